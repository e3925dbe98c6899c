"""The training table: dense ResNet-20 and every pattern at 75 % sparsity, each with its
own recipe (from scratch) and with ``oneshot`` (pruned from that dense model, fine-tuned).

Trains what ``OUT`` does not hold yet (``--jobs`` runs at a time, the cores shared between
them; an interrupted run is resumed), then prints one Markdown row per checkpoint, read
from the checkpoint's own metadata: top-1/top-5 on the test set, the gap to dense, the
epochs and the training seconds.

    python benchmarks/bench_training.py --out runs/train5             # full data, 5 epochs
    python benchmarks/bench_training.py --out runs/quick --quick      # the QUICK setting
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from patterns.checkpoint import load_checkpoint
from patterns.training import TrainConfig, quick_settings, train

# pattern -> (its parameters at 75 % sparsity, its own recipe)
AT_75 = {
    "unstructured": ({"sparsity": 0.75}, "gmp"),
    "nm": ({"n": 1, "m": 4}, "srste"),
    "block": ({"n": 4, "sparsity": 0.75, "balance": "uniform"}, "subp"),
    "cs": ({"k": 4}, "cs"),
    "filter": ({"sparsity": 0.75}, "gmp"),
}


def plan(args: argparse.Namespace) -> tuple[TrainConfig, list[TrainConfig]]:
    """The dense run, and the pattern runs that follow it (own recipe, then oneshot)."""
    out = Path(args.out)
    sizes = quick_settings() if args.quick else {"epochs": args.epochs}
    base = TrainConfig(model=args.model, dataset=args.dataset, out=str(out / "dense"),
                       seed=args.seed, resume=True, progress=False, **sizes)
    dense_ckpt = str(out / "dense" / "checkpoint.pt")
    runs = []
    for name, (params, recipe) in AT_75.items():
        runs.append(replace(base, out=str(out / f"own_{name}"), pattern=name,
                            pattern_params=params, recipe=recipe))
    for name, (params, _) in AT_75.items():
        runs.append(replace(base, out=str(out / f"oneshot_{name}"), pattern=name,
                            pattern_params=params, recipe="oneshot",
                            recipe_params={"init": dense_ckpt}, epochs=args.finetune_epochs))
    return base, runs


def train_all(dense: TrainConfig, runs: list[TrainConfig], jobs: int) -> None:
    """Dense first (the oneshot runs start from it), then the rest ``jobs`` at a time."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    train(replace(dense, threads=os.cpu_count()))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        for done in pool.map(train, [replace(r, threads=threads) for r in runs]):
            print(f"trained {done.path}: top-1 {done.top1:.2f}%", flush=True)


def table(dense: Path, runs: list[Path]) -> str:
    """Markdown rows from the checkpoints' metadata (runs not trained yet are left out)."""
    lines = ["| run | pattern | recipe | epochs | train images | top-1 | top-5 | gap to dense "
             "| density | training s |", "|" + "---|" * 10]
    dense_top1 = load_checkpoint(dense / "checkpoint.pt").top1
    for path in [dense, *runs]:
        if not (path / "checkpoint.pt").exists():
            continue
        ckpt = load_checkpoint(path / "checkpoint.pt")
        meta = ckpt.meta
        lines.append(
            f"| {path.name} | {meta['pattern_describe']} | {meta['recipe']} | {meta['epochs']} "
            f"| {meta['train']['train_images']} | {ckpt.top1:.2f} | {ckpt.top5:.2f} "
            f"| {ckpt.top1 - dense_top1:+.2f} | {meta['actual_density']:.3f} "
            f"| {meta['train_seconds']:.0f} |"
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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once")
    parser.add_argument("--table-only", action="store_true", help="train nothing")
    args = parser.parse_args()
    dense, runs = plan(args)
    if not args.table_only:
        train_all(dense, runs, args.jobs)
    print(table(Path(dense.out), [Path(c.out) for c in runs]))


if __name__ == "__main__":
    main()
