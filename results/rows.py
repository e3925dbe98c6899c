"""Turn the dicts (or a DataFrame) a caller hands the store into one typed Arrow table.

Bulk-inserting an Arrow table is what makes 100 000 rows take well under a second in DuckDB
(``executemany`` is orders of magnitude slower). Here rows are checked against the table's
columns, JSON columns are serialised, defaults are filled in and missing keys computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from results.keys import JSON_COLUMNS, json_text

Rows = Sequence[Mapping[str, Any]] | pd.DataFrame

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
}


def as_records(rows: Rows | None) -> list[Mapping[str, Any]]:
    """A list of row mappings from a list of dicts, a DataFrame or None."""
    if rows is None:
        return []
    if isinstance(rows, pd.DataFrame):
        return rows.to_dict("records")
    return list(rows)


def _array(column: str, values: list[Any], sql_type: str) -> pa.Array:
    if column in JSON_COLUMNS:
        values = [json_text(column, v) for v in values]
    arrow_type = _ARROW_TYPES[sql_type]
    try:
        return pa.array(values, type=arrow_type, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"column {column} must be {sql_type}: {exc}") from exc


def to_arrow(
    table: str,
    records: list[Mapping[str, Any]],
    columns: Mapping[str, str],
    key: str,
    key_of: Callable[[Mapping[str, Any]], str],
    defaults: Mapping[str, Any],
) -> pa.Table:
    """One Arrow table of ``records`` for ``table`` (``columns``: name -> DuckDB type).

    ``defaults`` fill columns a row leaves empty; ``key_of`` computes the key of a row that
    has none (seeing the defaults too). ValueError names unknown columns.
    """
    present: set[str] = set().union(*records) if records else set()
    unknown = sorted(present - set(columns))
    if unknown:
        raise ValueError(
            f"{table} rows have unknown columns {', '.join(unknown)}; known: {', '.join(columns)}"
        )
    if any(r.get(key) is None for r in records):
        records = [
            r if r.get(key) is not None else {**r, key: key_of({**defaults, **r})} for r in records
        ]
    emitted = [c for c in columns if c in present or c in defaults or c == key]
    arrays = []
    for column in emitted:
        values = [r.get(column) for r in records]
        if column in defaults:
            fill = defaults[column]
            values = [fill if v is None or v != v else v for v in values]
        arrays.append(_array(column, values, columns[column]))
    return pa.Table.from_arrays(arrays, names=emitted)
