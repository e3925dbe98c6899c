"""What the benchmark sub-commands share: comma-separated list arguments, number cells
for printed tables, and a sweep of row groups recorded as one run of a results store."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Iterable
from typing import Any


def csv_list(kind: type) -> Callable[[str], list]:
    """An argparse type: ``'a,b'`` -> ``[kind('a'), kind('b')]``."""
    def parse(text: str) -> list:
        try:
            return [kind(item) for item in text.split(",") if item.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: give a comma-separated list of {kind.__name__}") from None
    return parse


def add_level_arguments(parser: argparse.ArgumentParser, patterns: Iterable[str],
                        sparsities: Iterable[float],
                        patterns_help: str = "comma-separated patterns") -> None:
    """--patterns and --sparsities: the pattern levels a command runs
    (``harness.kernel_bench.sweep_levels`` maps each to the nearest reachable level)."""
    parser.add_argument("--patterns", type=csv_list(str), default=list(patterns),
                        help=f"{patterns_help} (default: %(default)s)")
    parser.add_argument("--sparsities", type=csv_list(float), default=list(sparsities),
                        help="requested sparsities; nm and cs map to the nearest level "
                             "(default: %(default)s)")


def add_run_arguments(parser: argparse.ArgumentParser, threads: Iterable[int],
                      budget: float) -> None:
    """--threads, --batch, --budget and the outputs --db, --csv of a benchmark command."""
    parser.add_argument("--threads", type=csv_list(int), default=list(threads),
                        help="thread counts (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=1, help="batch size (default: 1)")
    parser.add_argument("--budget", type=float, default=budget, metavar="SECONDS",
                        help="timing budget per measurement (default: %(default)s)")
    parser.add_argument("--db", default=None, metavar="PATH",
                        help="also write every row to this results database")
    parser.add_argument("--csv", default=None, metavar="PATH",
                        help="also write every row, with speedups, to this CSV file")


def check_sweep_arguments(args: argparse.Namespace, patterns_allowed: set[str]) -> None:
    """ValueError (exit 2) naming the first bad --models, --patterns, --sparsities,
    --threads, --batch or --budget value; nothing has run yet."""
    from patterns import models

    if not args.models:
        raise ValueError("--models: give at least one zoo model")
    for name in args.models:
        models.model_info(name)  # ValueError naming the choices
    for name in args.patterns:
        if name not in patterns_allowed:
            raise ValueError(f"--patterns: unknown pattern {name!r}; choose from "
                             f"{', '.join(sorted(patterns_allowed))}")
    if not all(0 < s < 1 for s in args.sparsities):
        raise ValueError(f"--sparsities {args.sparsities}: each must be in (0, 1)")
    if not args.threads or min(args.threads) < 1 or args.batch < 1 or args.budget <= 0:
        raise ValueError("--threads, --batch and --budget must be positive")
    import kernels_c
    from harness.paths import writable_file

    if max(args.threads) > kernels_c.max_threads():
        raise ValueError(f"--threads {max(args.threads)}: the C kernels take at most "
                         f"{kernels_c.max_threads()}")
    for flag, path in (("--csv", args.csv), ("--db", args.db)):
        if path:
            writable_file(path, flag)
    kernels_c.build_info()  # build (or find) the kernels now: a bad cache fails here


def num(value: Any, spec: str, scale: float = 1.0) -> str:
    """``value * scale`` formatted with ``spec``; '-' for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value * scale, spec)


def open_store(path: str, command: str, args: argparse.Namespace,
               notes: dict[str, Any]) -> tuple[Any, str]:
    """The results store at ``path`` and a new run of ``command`` with ``args`` as its spec."""
    import results
    from harness.environment import begin_run

    store = results.Store(path)
    spec = json.dumps({k: v for k, v in vars(args).items() if not k.startswith("_")},
                      sort_keys=True)
    return store, begin_run(store, command, spec, notes)[0]


def record_groups(groups: Iterable[list[dict[str, Any]]], show: Callable[[list], Any],
                  command: str, args: argparse.Namespace, db: str | None,
                  notes: dict[str, Any]) -> list[Any]:
    """``show(group)`` for each group of measurement rows (it returns the group's frame),
    each group also written to the results store ``db`` (if given) as it comes, within one
    run of ``command`` closed as finished, failed or interrupted. The frames, in order."""
    store, run_id = open_store(db, command, args, notes) if db else (None, None)
    frames = []
    status = "failed"
    try:
        for group in groups:
            frames.append(show(group))
            if store is not None:
                store.add_rows(run_id, measurements=group)
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if store is not None:
            store.end_run(run_id, status)
    return frames
