"""``sparsebench bench``: run a sweep (preset or spec file) into the database, then report."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.commands import register

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


def run(args: argparse.Namespace) -> int:
    from harness.paths import writable_dir, writable_file
    from harness.runner import run_sweep
    from harness.spec import load_preset, load_spec_file
    from harness.summary import print_pareto, print_summary

    spec, text = load_spec_file(args.spec) if args.spec else load_preset(args.preset or "quick")
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
    return 0


register("bench", "run a sweep (preset or spec file) into the results database and report it",
         configure, run)
