"""Turn the dicts (or a DataFrame) a caller hands the store into one typed Arrow table.

Bulk-inserting an Arrow table is what makes 100 000 rows take about a second in DuckDB
(``executemany`` is orders of magnitude slower). Here rows are checked against the table's
columns, JSON columns are serialised, defaults are filled in and missing keys computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from results.keys import JSON_COLUMNS, json_text, per_distinct

Rows = Sequence[Mapping[str, Any]] | pd.DataFrame

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
    "BLOB": pa.binary(),
}


def as_records(rows: Rows | None) -> list[Mapping[str, Any]]:
    """A list of row mappings from a list of dicts, a DataFrame or None."""
    if rows is None:
        return []
    if isinstance(rows, pd.DataFrame):
        return rows.to_dict("records")
    return list(rows)


def _missing(value: Any) -> bool:
    """None, or NaN / NaT (how pandas spells a missing value)."""
    return value is None or value != value


def _array(column: str, values: list[Any], sql_type: str) -> pa.Array:
    if column in JSON_COLUMNS:
        values = per_distinct(values, lambda v: json_text(column, v))
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
    keys_of: Callable[[Mapping[str, list[Any]], int], list[str]] | None,
    defaults: Mapping[str, Any],
) -> pa.Table:
    """One Arrow table of ``records`` for ``table`` (``columns``: name -> DuckDB type).

    ``defaults`` fill columns a row leaves empty; ``keys_of`` computes, column-wise, the
    key of rows that have none. ValueError names unknown columns and badly typed values.
    """
    present: set[str] = set().union(*records) if records else set()
    unknown = sorted(present - set(columns))
    if unknown:
        raise ValueError(
            f"{table} rows have unknown columns {', '.join(unknown)}; known: {', '.join(columns)}"
        )
    emitted = [c for c in columns if c in present or c in defaults or c == key]
    values: dict[str, list[Any]] = {}
    for column in emitted:
        column_values = [r.get(column) for r in records]
        if column in defaults:
            fill = defaults[column]
            column_values = [fill if _missing(v) else v for v in column_values]
        values[column] = column_values
    if keys_of is not None and any(map(_missing, values[key])):
        computed = keys_of(values, len(records))
        values[key] = [
            new if _missing(given) else given
            for given, new in zip(values[key], computed, strict=True)
        ]
    arrays = [_array(column, values[column], columns[column]) for column in emitted]
    return pa.Table.from_arrays(arrays, names=emitted)
