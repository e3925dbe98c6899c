"""The training table: dense ResNet-20 and every pattern at 75 % sparsity, each with its
own recipe (from scratch) and with ``oneshot`` (pruned from that seed's dense model and
fine-tuned), for one or more seeds.

Trains what ``OUT/seed<S>/`` does not hold yet (``--jobs`` runs at a time, the cores
shared between them; an interrupted run is resumed), then prints one Markdown row per run,
read from the checkpoints' own metadata: test top-1 per seed, their mean, the gap to the
dense mean over the same seeds, the epochs and the training seconds.

    python benchmarks/bench_training.py --out runs/train5             # full data, 5 epochs
    python benchmarks/bench_training.py --out runs/quick --quick      # the QUICK setting
    python benchmarks/bench_training.py --out runs/train5 --runs own_block own_block_bpar
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from patterns.checkpoint import Checkpoint, load_checkpoint
from patterns.training import TrainConfig, quick_settings, train

# pattern -> (its parameters at 75 % sparsity, its own recipe)
AT_75 = {
    "unstructured": ({"sparsity": 0.75}, "gmp"),
    "nm": ({"n": 1, "m": 4}, "srste"),
    "block": ({"n": 4, "sparsity": 0.75, "balance": "uniform"}, "subp"),
    "cs": ({"k": 4}, "cs"),
    "filter": ({"sparsity": 0.75}, "gmp"),
}
# more own-recipe block rows: SUBP's criterion and 1xN's channel rearrangement
BLOCK_VARIANTS = {
    f"block{suffix}": {**AT_75["block"][0], **extra}
    for suffix, extra in {
        "_bpar": {"criterion": "bpar"},
        "_rearrange": {"rearrange": True},
        "_bpar_rearrange": {"criterion": "bpar", "rearrange": True},
    }.items()
}
RUNS = ["dense", *(f"own_{p}" for p in [*AT_75, *BLOCK_VARIANTS]),
        *(f"oneshot_{p}" for p in AT_75)]


def plan(args: argparse.Namespace, seed: int) -> tuple[TrainConfig | None, list[TrainConfig]]:
    """One seed's dense run, and the pattern runs that follow it (own recipe, oneshot);
    with ``args.runs``, only those (dense too when asked for or a oneshot run needs it)."""
    out = Path(args.out) / f"seed{seed}"
    sizes = quick_settings() if args.quick else {"epochs": args.epochs}
    dense = TrainConfig(model=args.model, dataset=args.dataset, out=str(out / "dense"),
                        seed=seed, resume=True, progress=False, **sizes)
    runs = [replace(dense, out=str(out / f"own_{name}"), pattern=name, pattern_params=params,
                    recipe=recipe) for name, (params, recipe) in AT_75.items()]
    runs += [replace(dense, out=str(out / f"own_{name}"), pattern="block", pattern_params=params,
                     recipe=AT_75["block"][1]) for name, params in BLOCK_VARIANTS.items()]
    runs += [replace(dense, out=str(out / f"oneshot_{name}"), pattern=name,
                     pattern_params=params, recipe="oneshot",
                     recipe_params={"init": str(out / "dense" / "checkpoint.pt")},
                     epochs=args.finetune_epochs) for name, (params, _) in AT_75.items()]
    if args.runs:
        runs = [r for r in runs if Path(r.out).name in args.runs]
        if "dense" not in args.runs and all(r.recipe != "oneshot" for r in runs):
            return None, runs
    return dense, runs


def train_all(dense: TrainConfig | None, runs: list[TrainConfig], jobs: int) -> None:
    """Dense first (the oneshot runs start from it), then the rest ``jobs`` at a time."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if dense is not None:
        train(replace(dense, threads=os.cpu_count()))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        for done in pool.map(train, [replace(r, threads=threads) for r in runs]):
            print(f"trained {done.path}: top-1 {done.top1:.2f}%", flush=True)


def trained(out: Path, seeds: list[int], run: str) -> dict[int, Checkpoint]:
    """The checkpoints of ``run`` that exist, by seed."""
    paths = {seed: out / f"seed{seed}" / run / "checkpoint.pt" for seed in seeds}
    return {seed: load_checkpoint(path) for seed, path in paths.items() if path.exists()}


def table(out: Path, seeds: list[int]) -> str:
    """Markdown rows from the checkpoints' metadata; runs not trained yet are left out, and
    the gap is left blank for seeds without a dense run."""
    lines = ["| run | pattern | recipe | epochs | train images | top-1 by seed | mean top-1 "
             "| gap to dense | training s |", "|" + "---|" * 9]
    found = {run: trained(out, seeds, run) for run in RUNS}
    dense = {seed: c.top1 for seed, c in found["dense"].items()}
    for run, by_seed_found in found.items():
        ckpts = {s: c for s, c in by_seed_found.items() if s in dense or not dense}
        if not ckpts:
            continue
        meta = next(iter(ckpts.values())).meta
        top1 = statistics.mean(c.top1 for c in ckpts.values())
        gap = f"{top1 - statistics.mean(dense[s] for s in ckpts):+.2f}" if dense else ""
        by_seed = " / ".join(f"{c.top1:.2f}" for c in ckpts.values())
        seconds = statistics.mean(c.meta["train_seconds"] for c in ckpts.values())
        lines.append(
            f"| {run} | {meta['pattern_describe']} | {meta['recipe']} | {meta['epochs']} "
            f"| {meta['train']['train_images']} | {by_seed} | {top1:.2f} | {gap} "
            f"| {seconds:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for the checkpoints")
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=5, help="dense and own-recipe epochs")
    parser.add_argument("--finetune-epochs", type=int, default=2, help="oneshot fine-tuning")
    parser.add_argument("--quick", action="store_true", help="QUICK subset and epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once")
    parser.add_argument("--table-only", action="store_true", help="train nothing")
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=None, metavar="RUN",
                        help=f"train only these runs: {' '.join(RUNS)}")
    args = parser.parse_args()
    if not args.table_only:
        for seed in args.seeds:
            train_all(*plan(args, seed), args.jobs)
    print(table(Path(args.out), args.seeds))


if __name__ == "__main__":
    main()
