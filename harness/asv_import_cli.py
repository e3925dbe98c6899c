"""``sparsebench db import-asv``: load asv's result files into the results database."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", nargs="?", type=Path, default=Path(".asv/results"),
                        help="asv's results directory (default: %(default)s)")
    parser.add_argument("--db", type=Path, default=None,
                        help="DuckDB results file (default $SPARSEBENCH_DB or "
                             "sparsebench-out/results.duckdb)")


def run(args: argparse.Namespace) -> int:
    import results
    from harness.asv_import import import_asv_results

    if not args.results_dir.is_dir():
        raise ValueError(f"{args.results_dir}: no such directory; run 'tox -e asv' (or asv "
                         "run) first, or pass asv's results_dir")
    path = Path(args.db or results.default_path())
    path.parent.mkdir(parents=True, exist_ok=True)
    added = import_asv_results(args.results_dir, results.Store(path))
    print(f"imported {added} new asv measurement rows from {args.results_dir} into {path}")
    return 0

