"""``sparsebench bench``: run a sweep (preset or spec file) into the database, then report."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from harness.commands import register
from harness.spec import SweepSpec, check_executor

DEFAULT_OUT = Path("sparsebench-out")


def configure(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", default=None, help="a shipped sweep: quick (default), full")
    source.add_argument("--spec", type=Path, help="a sweep spec TOML file")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for checkpoints and the report (default {DEFAULT_OUT})")
    parser.add_argument("--db", type=Path, default=None,
                        help="DuckDB results file (default OUT/results.duckdb)")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--executor", choices=("local", "ray"), default=None,
                        help="where jobs run: local (default, this process) or ray (a Ray "
                             "cluster, see docs/executors.md); overrides the spec's")
    parser.add_argument("--ray-address", default=None, metavar="ADDR",
                        help="the Ray cluster's head, host:port (default: the spec's, else a "
                             "Ray of this machine alone)")


def run(args: argparse.Namespace) -> int:
    from harness.paths import writable_dir, writable_file
    from harness.runner import run_sweep
    from harness.spec import load_preset, load_spec_file
    from harness.summary import print_pareto, print_summary

    spec, text = load_spec_file(args.spec) if args.spec else load_preset(args.preset or "quick")
    spec = with_executor(spec, args.executor, args.ray_address)
    writable_dir(args.out, "--out")
    if not args.no_report:
        writable_dir(args.out / "report", "the report folder",
                     "move it away, pass another --out, or add --no-report")
    db_path = writable_file(args.db or args.out / "results.duckdb", "--db")
    summary = run_sweep(spec, text, db_path=db_path, out_dir=args.out,
                        progress=not args.no_progress)
    print_summary(summary)
    if not args.no_report:
        from reports.site import build_site

        site = build_site(db_path, args.out / "report")
        print(f"report: {site.index.resolve()}")
    print_pareto(db_path)
    if summary.failures:
        print(f"sparsebench: {len(summary.failures)} job failure(s), recorded in the run's "
              "notes; rerun the same command to retry them", file=sys.stderr)
        return 1
    return 0


def with_executor(spec: SweepSpec, name: str | None, address: str | None) -> SweepSpec:
    """``spec`` with the command line's executor choice over the spec's own."""
    options = spec.executor
    if name is not None:  # another executor than the spec's: the spec's address is moot
        options = dataclasses.replace(
            options, name=name, address=options.address if name == options.name else None)
    if address is not None:
        options = dataclasses.replace(options, address=address)
    check_executor(options, "command line")
    return dataclasses.replace(spec, executor=options)


register("bench", "run a sweep (preset or spec file) into the results database and report it",
         configure, run)
