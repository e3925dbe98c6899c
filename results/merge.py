"""Merge results files from several machines into one, without duplicating any key.

Each source must be a sparsebench results file of the schema this code writes; foreign
files and files from a newer sparsebench are refused before anything is written, and each
source goes in one transaction (a failure leaves no half-merged source behind).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from results.connection import DEFAULT_TIMEOUT_S, connect, transaction, with_lock_retry
from results.schema import DATA_TABLES, SCHEMA_VERSION, check_supported, file_version
from results.store import Store
from results.upsert import insert_new

_ALIAS = "merge_source"


def _check_source(path: Path, dest: Path, timeout: float) -> None:
    if not path.is_file():
        raise ValueError(f"merge source {path} does not exist; pass existing results files")
    if path.resolve() == dest.resolve():
        raise ValueError(f"merge source {path} is the destination; pass another --into")
    with connect(path, read_only=True, timeout=timeout) as con:
        version = file_version(con, str(path))
    check_supported(version, str(path))
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"{path} has schema v{version}, not v{SCHEMA_VERSION}; "
            "open it once with this sparsebench (results.Store) to migrate it, then merge"
        )


def merge(
    sources: Iterable[str | Path], dest: str | Path, *, timeout: float = DEFAULT_TIMEOUT_S
) -> dict[str, int]:
    """Add every row of ``sources`` missing from ``dest`` (created if absent).

    Returns the number of new rows per table over all sources.
    """
    source_paths = [Path(s) for s in sources]
    if not source_paths:
        raise ValueError("merge needs at least one source file")
    dest_path = Path(dest)
    for path in source_paths:
        _check_source(path, dest_path, timeout)
    store = Store(dest_path, timeout=timeout)
    added = dict.fromkeys(DATA_TABLES, 0)
    with connect(store.path, read_only=False, timeout=timeout) as con:
        for path in source_paths:
            literal = str(path).replace("'", "''")
            with_lock_retry(
                lambda lit=literal: con.execute(
                    f"ATTACH '{lit}' AS {_ALIAS} (READ_ONLY)"
                ).fetchall(),
                str(path),
                timeout,
            )
            try:
                with transaction(con):
                    for table in DATA_TABLES:
                        added[table] += insert_new(con, table, f"{_ALIAS}.{table}")
            finally:
                con.execute(f"DETACH {_ALIAS}")
    return added
