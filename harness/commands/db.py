"""``sparsebench db summary | query SQL | compare A B | export | merge``: inspect and move the
results file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from harness import asv_import_cli, compare_cli
from harness.commands import register

_OUTPUT_FORMATS = ("table", "csv", "json")


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="DuckDB results file (default $SPARSEBENCH_DB or sparsebench-out/results.duckdb)",
    )


def _open(args: argparse.Namespace):
    import results

    return results.Store(args.db or results.default_path(), create=False)


def _summary(args: argparse.Namespace) -> int:
    store = _open(args)
    size_mib = store.path.stat().st_size / 2**20
    print(f"{store.path}: sparsebench results, schema v{store.version}, {size_mib:.1f} MiB")
    counts = store.query(
        "SELECT 'machines' AS t, count(*) AS n FROM machines UNION ALL "
        "SELECT 'software', count(*) FROM software UNION ALL "
        "SELECT 'runs', count(*) FROM runs UNION ALL "
        "SELECT 'checkpoints', count(*) FROM checkpoints UNION ALL "
        "SELECT 'measurements', count(*) FROM measurements"
    )
    print("  ".join(f"{row.t}={row.n}" for row in counts.itertuples()))
    by_status = store.query(
        "SELECT scope, backend, status, count(*) AS rows FROM measurements "
        "GROUP BY ALL ORDER BY ALL"
    )
    if not by_status.empty:
        print("\nmeasurements by scope, backend and status:")
        print(by_status.to_string(index=False))
    runs = store.query(
        "SELECT r.spec_name, r.started_at, r.status, r.git_commit[:10] AS commit, "
        "(SELECT count(*) FROM measurements m WHERE m.run_id = r.run_id) AS measurements "
        "FROM runs r ORDER BY r.started_at DESC LIMIT 10"
    )
    if not runs.empty:
        print("\nlatest runs:")
        print(runs.to_string(index=False))
    return 0


def _query(args: argparse.Namespace) -> int:
    frame = _open(args).query(args.sql)
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(frame.to_json(orient="records", date_format="iso"))
    else:
        print(frame.to_string(index=False) if not frame.empty else "(no rows)")
    return 0


def _export(args: argparse.Namespace) -> int:
    for path in _open(args).export(args.out, args.format):
        print(path)
    return 0


def _merge(args: argparse.Namespace) -> int:
    import results

    added = results.merge(args.sources, args.into)
    print(f"{args.into}: " + "  ".join(f"+{n} {table}" for table, n in added.items()))
    return 0


def _configure_query(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sql", help="read-only SQL over machines, software, runs, "
                        "checkpoints, measurements, and pareto_points (every Pareto point "
                        "with its on_frontier flag, as the report shows them)")  # fmt: skip
    parser.add_argument("--format", choices=_OUTPUT_FORMATS, default="table")
    _db_option(parser)


def _configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder for one file per table")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    _db_option(parser)


def _configure_merge(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", type=Path, metavar="SRC", help="results files")
    parser.add_argument("--into", type=Path, required=True, metavar="DEST",
                        help="results file to add them to (created if absent)")  # fmt: skip


# action -> (help, configure, run)
ACTIONS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable]] = {
    "summary": ("what the results file holds", _db_option, _summary),
    "query": ("run read-only SQL, print the rows", _configure_query, _query),
    "compare": ("two checkpoints: top-1 with intervals, McNemar, latency ratio",
                compare_cli.configure, compare_cli.run),
    "export": ("write each table to Parquet or CSV", _configure_export, _export),
    "merge": ("combine results files without duplicates", _configure_merge, _merge),
    "import-asv": ("load asv result files into the database", asv_import_cli.configure,
                   asv_import_cli.run),
}


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, (help_text, configure_action, run_action) in ACTIONS.items():
        action_parser = actions.add_parser(name, help=help_text, description=help_text)
        configure_action(action_parser)
        action_parser.set_defaults(_action=run_action)


def run(args: argparse.Namespace) -> int:
    return args._action(args)


register("db", "inspect, query, export and merge the results database", configure, run)
