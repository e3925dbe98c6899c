"""``sparsebench models``: whole zoo models at their own input shapes, every pattern level on
our kernels and on the dense engines, verified against torch and timed; one table per model
with median / p90 / p99 latency, images/s and the speedup over eager torch and over the
fastest fp32 dense engine of the same run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness import cli_args
from harness.cli_args import add_level_arguments, csv_list, num
from harness.commands import register
from harness.environment import openmp_env
from harness.model_bench import (
    DEFAULT_MODELS,
    DEFAULT_PATTERNS,
    DEFAULT_SPARSITIES,
    DEFAULT_THREADS,
    MIN_REPEATS,
)

COLUMNS = (("level", 26), ("backend", 16), ("kernel", 28), ("thr", 3), ("prec", 4),
           ("median_ms", 9), ("p90_ms", 9), ("p99_ms", 9), ("img/s", 8), ("x_torch", 7),
           ("x_best", 6), ("max_err", 8), ("status", 0))


def _default_backends() -> list[str]:
    from harness.backends import BACKENDS

    return [name for name, b in BACKENDS.items() if "cpu" in b.devices]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=csv_list(str), default=list(DEFAULT_MODELS),
                        help="comma-separated zoo models (default: %(default)s)")
    add_level_arguments(parser, DEFAULT_PATTERNS, DEFAULT_SPARSITIES,
                        "comma-separated patterns; the dense model always runs")
    parser.add_argument("--backends", type=csv_list(str), default=None,
                        help="comma-separated CPU backends (default: every registered one; "
                             "one not installed here gives a row saying why)")
    parser.add_argument("--repeats", type=int, default=MIN_REPEATS, metavar="N",
                        help="timed calls at least per measurement, whatever the budget "
                             "(default: %(default)s)")
    cli_args.add_run_arguments(parser, DEFAULT_THREADS, budget=3.0)


def _check(args: argparse.Namespace) -> None:
    """Every argument checked before any work: ValueError (exit 2) naming what to fix."""
    import patterns
    from harness.backends import BACKENDS

    cli_args.check_sweep_arguments(args, set(patterns.available()))
    cpu = _default_backends()
    args.backends = cpu if args.backends is None else args.backends
    for name in args.backends:
        if name not in cpu:
            raise ValueError(f"--backends: {name!r} is not a CPU backend; choose from "
                             f"{', '.join(cpu)}" + (" (cuda needs a GPU run)"
                                                     if name in BACKENDS else ""))
    if not args.backends:
        raise ValueError("--backends: give at least one backend")
    if args.repeats < 1:
        raise ValueError(f"--repeats {args.repeats}: give 1 or more")
    for flag, path in (("--csv", args.csv), ("--db", args.db)):
        if path and not Path(path).resolve().parent.is_dir():
            raise ValueError(f"{flag} {path}: the folder {Path(path).parent} does not exist")
        if path and Path(path).is_dir():
            raise ValueError(f"{flag} {path} is a directory; give a file path")


def _line(cells: dict[str, str]) -> str:
    return " ".join(f"{cells[name]:<{width}}"[:width] if width else cells[name]
                    for name, width in COLUMNS)


def _status(r: dict[str, Any]) -> str:
    if r["status"] != "ok":
        return f"{r['status']}: {r['message']}"
    return f"ok ({r['message']})" if isinstance(r["message"], str) and r["message"] else "ok"


def print_table(df: Any) -> None:
    """One model's rows: fastest first within each pattern level."""
    from harness.kernel_bench import level_label

    first = df.iloc[0]
    best = df["best_dense"].dropna()
    print(f"\n{first['model']} batch {first['batch']} @{first['height']}x{first['width']}"
          f"  (x_best: over the fastest fp32 dense engine at the same threads: "
          f"{', '.join(sorted(set(best))) or 'none timed'})")
    print(_line({name: name for name, _ in COLUMNS}))
    for r in df.to_dict("records"):
        print(_line({
            "level": level_label(r["pattern"], r["pattern_params"]), "backend": r["backend"],
            "kernel": r["kernel"] or "-", "thr": str(r["threads"]),
            "prec": r["precision"] or "-", "median_ms": num(r.get("median_s"), ".3f", 1e3),
            "p90_ms": num(r.get("p90_s"), ".3f", 1e3), "p99_ms": num(r.get("p99_s"), ".3f", 1e3),
            "img/s": num(r.get("images_s"), ".1f"), "x_torch": num(r.get("x_torch"), ".2f"),
            "x_best": num(r.get("x_best"), ".2f"), "max_err": num(r.get("max_rel_error"), ".1e"),
            "status": _status(r),
        }), flush=True)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from harness.kernel_bench import sweep_levels
    from harness.model_bench import sweep, with_speedups

    _check(args)
    levels = sweep_levels([p for p in args.patterns if p != "dense"], args.sparsities)

    def show(group: list) -> Any:
        frame = with_speedups(group).sort_values(
            ["threads", "requested_sparsity", "pattern", "pattern_params", "median_s"],
            kind="stable")
        print_table(frame)
        return frame

    groups = sweep(args.models, levels, args.backends, args.threads, args.batch, args.budget,
                   min_repeats=args.repeats)
    frames = cli_args.record_groups(groups, show, "models", args, args.db,
                                    {"env": openmp_env()})
    df = pd.concat(frames, ignore_index=True)
    if args.csv:
        df.to_csv(args.csv, index=False)
    not_ok = df[df.status != "ok"].groupby("status").size().to_dict()
    print(f"\nrows: {len(df)}; not timed: {not_ok or 'none'}; OpenMP env: "
          f"{openmp_env() or 'defaults'} (timings on a shared CPU are noisy)")
    return 0


register("models", "benchmark whole models on our kernels and the dense engines "
         "(median, p90, p99, images/s, speedup over the best dense engine)", configure, run)
