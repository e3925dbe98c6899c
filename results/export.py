"""Export a results file to one Parquet or CSV file per table (for pandas, R, spreadsheets)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from results.connection import connect
from results.schema import DATA_TABLES

if TYPE_CHECKING:
    from results.store import Store

# format name -> DuckDB COPY options
FORMATS = {"parquet": "FORMAT parquet", "csv": "FORMAT csv, HEADER true"}


def export_tables(store: Store, out_dir: str | Path, fmt: str = "parquet") -> list[Path]:
    """Write each data table of ``store`` to ``out_dir/<table>.<fmt>``; the paths written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a directory; pass a directory for --out")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with connect(store.path, read_only=True, timeout=store.timeout) as con:
        for table in DATA_TABLES:
            target = out / f"{table}.{fmt}"
            target_sql = str(target).replace("'", "''")
            con.execute(
                f"COPY (SELECT * FROM {table}) TO '{target_sql}' ({FORMATS[fmt]})"
            ).fetchall()
            written.append(target)
    return written
