"""``sparsebench report --db PATH --out DIR``: build the static HTML report site."""

from __future__ import annotations

import argparse

from harness.commands import register


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, help="results database (DuckDB file) to read")
    parser.add_argument("--out", required=True, help="folder to write the site into")


def run(args: argparse.Namespace) -> int:
    from harness.paths import writable_dir
    from reports.site import build_site, open_store

    open_store(args.db)  # a missing database is refused before --out is made
    site = build_site(args.db, writable_dir(args.out, "--out"))
    print(f"report: {site.index} ({len(site.model_pages)} model pages, "
          f"{site.measurement_rows:,} measurements, {site.checkpoint_rows:,} checkpoints)")
    return 0


register("report", "Build the HTML accuracy–latency report from a results database.",
         configure, run)
