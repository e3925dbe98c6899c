"""``sparsebench train``: train one checkpoint (model × data set × pattern × recipe).

Example::

    sparsebench train --model resnet20 --dataset fashion-mnist --pattern cs --k 4 \\
        --recipe cs --epochs 5 --out runs/cs4

Pattern parameters are flags (``--n --m --k --d --sparsity --scope --balance
--criterion --rearrange``); only the ones given reach ``patterns.make``, which refuses a flag the
pattern does not take. Everything is checked before the output folder is written.
"""

from __future__ import annotations

import argparse
import json

from harness.commands import register

PATTERN_FLAGS = {
    "n": (int, "N:M kept per group (nm) or block length along Cout (block)"),
    "m": (int, "N:M group size (nm)"),
    "k": (int, "CS group size; sparsity 1-1/k (cs)"),
    "d": (int, "CS distance (cs; default Cin/k)"),
    "sparsity": (float, "fraction of zeros (unstructured, block, filter), e.g. 0.75"),
    "scope": (str, "unstructured: layer or global"),
    "balance": (str, "block: uniform (SUBP) or global (1xN)"),
    "criterion": (str, "block: l1, l2 or bpar"),
    "rearrange": (bool, "block: sort output channels by filter L1 norm before blocking (1xN)"),
}


def configure(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("what to train")
    what.add_argument("--model", required=True, help="model name, e.g. resnet20")
    what.add_argument("--dataset", required=True, help="data set, e.g. fashion-mnist")
    what.add_argument("--pattern", default="dense",
                      help="sparsity pattern: dense unstructured nm block cs filter")
    for flag, (kind, text) in PATTERN_FLAGS.items():
        kinds = {"action": "store_true"} if kind is bool else {"type": kind}
        what.add_argument(f"--{flag}", default=None, help=f"pattern: {text}", **kinds)
    what.add_argument("--recipe", default=None,
                      help="dense oneshot gmp srste subp cs (default: dense for --pattern "
                           "dense; required otherwise)")
    what.add_argument("--init", default=None,
                      help="dense checkpoint to start from (oneshot: required; gmp: optional)")
    what.add_argument("--recipe-param", action="append", default=[], metavar="KEY=VALUE",
                      help="recipe hyper-parameter (JSON value), e.g. decay=2e-4, "
                           "ramp_end=0.5, tau=1; repeatable")
    how = parser.add_argument_group("how to train")
    how.add_argument("--epochs", type=int, default=None, help="epochs (default 5; quick: 4)")
    how.add_argument("--lr", type=float, default=None,
                     help="base learning rate (default: 0.1 from scratch, 0.01 fine-tuning)")
    how.add_argument("--batch-size", type=int, default=128,
                     help="mini-batch size (default 128)")
    how.add_argument("--weight-decay", type=float, default=5e-4,
                     help="SGD weight decay (default 5e-4)")
    how.add_argument("--label-smoothing", type=float, default=0.0,
                     help="label smoothing (default 0)")
    how.add_argument("--no-augment", action="store_true", help="no random crop / flip")
    how.add_argument("--seed", type=int, default=0,
                     help="seed of init, split and order (default 0)")
    how.add_argument("--train-subset", type=int, default=None,
                     help="train on this many images (default all)")
    how.add_argument("--test-subset", type=int, default=None,
                     help="evaluate on this many test images (default all)")
    how.add_argument("--quick", action="store_true",
                     help="the QUICK setting (patterns.training.quick_settings) for "
                          "--train-subset/--test-subset/--epochs not given")
    how.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    how.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    how.add_argument("--data-root", default=None, help="folder holding the data set")
    where = parser.add_argument_group("output")
    where.add_argument("--out", required=True, help="output folder (checkpoint.pt goes here)")
    where.add_argument("--resume", action="store_true",
                       help="continue the interrupted run in --out from its last epoch")
    where.add_argument("--no-progress", action="store_true", help="no progress bar")


def _recipe_params(args: argparse.Namespace) -> dict:
    params = {}
    for item in args.recipe_param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--recipe-param {item!r} is not KEY=VALUE; e.g. decay=2e-4")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    if args.init:
        params["init"] = args.init
    return params


def build_config(args: argparse.Namespace):
    """The ``TrainConfig`` the flags describe (ValueError for inconsistent flags)."""
    from patterns.training import TrainConfig, quick_settings

    recipe = args.recipe or ("dense" if args.pattern == "dense" else None)
    if recipe is None:
        raise ValueError(f"--pattern {args.pattern} needs --recipe (oneshot, gmp, or its own)")
    sizes = {"train_subset": args.train_subset, "test_subset": args.test_subset,
             "epochs": args.epochs}
    defaults = quick_settings() if args.quick else {"epochs": 5}
    sizes = {k: v if v is not None else defaults.get(k) for k, v in sizes.items()}
    return TrainConfig(
        model=args.model, dataset=args.dataset, out=args.out, pattern=args.pattern,
        pattern_params={k: getattr(args, k) for k in PATTERN_FLAGS
                        if getattr(args, k) is not None},
        recipe=recipe, recipe_params=_recipe_params(args), lr=args.lr,
        batch_size=args.batch_size, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing, augment=not args.no_augment, seed=args.seed,
        data_root=args.data_root, threads=args.threads, device=args.device,
        resume=args.resume, progress=not args.no_progress, **sizes,
    )


def run(args: argparse.Namespace) -> int:
    from patterns.training import train

    result = train(build_config(args))
    meta = result.checkpoint.meta
    print(f"checkpoint: {result.path}")
    print(
        f"{meta['model']} {meta['dataset']} {meta['pattern_describe']} recipe {meta['recipe']}: "
        f"top-1 {result.top1:.2f}%  top-5 {result.top5:.2f}%  "
        f"(density {meta['actual_density']:.3f}, {result.epochs} epochs, "
        f"{result.train_seconds:.0f} s training)"
    )
    return 0


register("train", "train one sparse checkpoint (model, data set, pattern, recipe)",
         configure, run)
