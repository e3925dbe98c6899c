"""Re-key stored measurements with ``keys.measurement_key``: a migration step.

Before schema v7 a sweep keyed its rows by a hash of its job object, other writers by a
hash of more columns, so one configuration could be stored twice and a new job field
re-measured everything. This step gives every stored row the key its columns mean today,
so a sweep resumed on an old file skips what the file holds. Where several rows now share
a key, one is kept (valid first, then 'ok', then the oldest); the others keep their old key
and are flagged in ``invalid_reason`` as duplicates of it, so readers see the row once.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from results.keys import MEASUREMENT_KEY_COLUMNS, measurement_keys

DUPLICATE = "duplicate of {key} (same configuration, re-keyed by schema v7)"


def rekey_measurements(con: duckdb.DuckDBPyConnection) -> None:
    """Give every measurement its configuration's key; flag rows that now repeat one."""
    columns = ", ".join(f"CAST({c} AS VARCHAR)" if c == "pattern_params" else c
                        for c in MEASUREMENT_KEY_COLUMNS)
    found = con.execute(
        f"SELECT measurement_key, {columns} FROM measurements ORDER BY "
        "invalid_reason IS NOT NULL, status <> 'ok', created_at, measurement_key").fetchall()
    if not found:
        return
    old, *values = (list(column) for column in zip(*found, strict=True))
    new = measurement_keys(dict(zip(MEASUREMENT_KEY_COLUMNS, values, strict=True)), len(old))
    kept: set[str] = set()
    rekeyed, flagged = [], []
    for old_key, new_key in zip(old, new, strict=True):
        if new_key in kept:
            flagged.append((old_key, DUPLICATE.format(key=new_key)))
        elif new_key != old_key:
            kept.add(new_key)
            rekeyed.append((old_key, new_key))
        else:
            kept.add(new_key)
    _apply(con, "measurement_key = c.v", rekeyed)
    _apply(con, "invalid_reason = coalesce(invalid_reason, c.v)", flagged)  # keep a reason


def _apply(con: duckdb.DuckDBPyConnection, assignment: str,
           changes: list[tuple[str, str]]) -> None:
    """``SET assignment`` (``c.v``: the value) for each (measurement_key, value)."""
    if not changes:
        return
    keys, values = zip(*changes, strict=True)
    con.register("rekey_changes", pa.table({"k": list(keys), "v": list(values)}))
    con.execute(f"UPDATE measurements SET {assignment} FROM rekey_changes AS c "
                "WHERE measurements.measurement_key = c.k").fetchall()
    con.unregister("rekey_changes")
