"""``sparsebench kernels``: every prunable conv layer x pattern x sparsity x threads, verified
against torch and timed against our dense kernel and torch's dense conv in the same run."""

from __future__ import annotations

import argparse
import functools
from typing import Any

from harness.cli_args import (
    add_level_arguments,
    add_run_arguments,
    check_sweep_arguments,
    csv_list,
    num,
    record_groups,
)
from harness.commands import register
from harness.environment import openmp_env
from harness.kernel_bench import (
    DEFAULT_MODELS,
    DEFAULT_PATTERNS,
    DEFAULT_SPARSITIES,
    DEFAULT_THREADS,
)

PEAK_PROBES = 3  # a shared CPU only lowers the probe's figure: keep the best of a few
COLUMNS = (("model", 12), ("layer", 22), ("shape", 24), ("level", 30), ("thr", 3),
           ("ms", 9), ("x_dense", 7), ("x_torch", 7), ("peak", 5), ("status", 0))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=csv_list(str), default=list(DEFAULT_MODELS),
                        help="comma-separated zoo models (default: %(default)s)")
    add_level_arguments(parser, DEFAULT_PATTERNS, DEFAULT_SPARSITIES)
    parser.add_argument("--layers", type=int, default=None, metavar="N",
                        help="only the first N prunable layers of each model")
    add_run_arguments(parser, DEFAULT_THREADS, budget=0.25)


def _check(args: argparse.Namespace) -> None:
    import patterns

    check_sweep_arguments(args, set(patterns.available()) - {"dense"})
    if args.layers is not None and args.layers < 1:
        raise ValueError(f"--layers {args.layers}: give 1 or more")


def _line(cells: dict[str, str]) -> str:
    return " ".join(f"{cells[name]:<{width}}"[:width] if width else cells[name]
                    for name, width in COLUMNS)


def _print_rows(df: Any) -> None:
    from harness.kernel_bench import level_label

    for r in df.to_dict("records"):
        level = level_label(r["pattern"], r["pattern_params"])
        print(_line({
            "model": r["model"], "layer": r["layer"],
            "shape": f"{r['out_channels']}x{r['in_channels']} {r['kernel_h']}x{r['kernel_w']} "
                     f"s{r['stride']} @{r['height']}",
            "level": f"{r['backend']}:{level}", "thr": str(r["threads"]),
            "ms": num(r["median_s"], ".3f", 1e3), "x_dense": num(r["x_c_dense"], ".2f"),
            "x_torch": num(r["x_torch"], ".2f"), "peak": num(r["peak_fraction"], ".0%"),
            "status": r["status"] if r["status"] == "ok" else f"{r['status']}: {r['message']}",
        }), flush=True)


def _print_summary(df: Any) -> None:
    from harness.kernel_bench import dense_by_kind, summarise

    summary = summarise(df)
    print("\nsummary (geomeans over layers; speedup = baseline median / this median)")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("\nour dense kernel vs torch, by layer kind")
    print(dense_by_kind(df).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    not_ok = df[df.status != "ok"].groupby("status").size().to_dict()
    print(f"\nrows: {len(df)}; not timed: {not_ok or 'none'}; OpenMP env: "
          f"{openmp_env() or 'defaults'} (timings on a shared CPU are noisy)")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    import kernels_c
    from harness.kernel_bench import sweep, sweep_levels, with_speedups

    _check(args)
    levels = sweep_levels(args.patterns, args.sparsities)
    peak = functools.cache(lambda threads: max(kernels_c.peak_gflops(threads)
                                               for _ in range(PEAK_PROBES)))
    print(_line({name: name for name, _ in COLUMNS}))

    def show(group: list) -> Any:
        frame = with_speedups(group, peak)
        _print_rows(frame)
        return frame

    frames = record_groups(sweep(args.models, levels, args.threads, args.batch, args.budget,
                                 layer_limit=args.layers), show, "kernels", args, args.db,
                           {"env": openmp_env()})
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if args.csv:
        df.to_csv(args.csv, index=False)
    if df.empty:
        raise ValueError("no layers to benchmark: check --models and --layers")
    _print_summary(df)
    return 0


register("kernels", "benchmark the C kernels layer by layer against our dense and torch's",
         configure, run)
