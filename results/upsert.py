"""Insert rows from a source relation without duplicating keys (used by add_rows and merge).

A key already stored is kept as it is (idempotent re-runs), with one exception: a stored
measurement that failed ('wrong'/'error') gives way to an 'ok' measurement of the same key,
so retrying a failed job after a fix records the result.
"""

from __future__ import annotations

import duckdb

from results.schema import PRIMARY_KEYS

# table -> status column whose non-'ok' rows an incoming 'ok' row replaces
_REPLACEABLE = {"measurements": "status"}


def insert_new(con: duckdb.DuckDBPyConnection, table: str, source: str) -> int:
    """Insert every row of ``source`` (a relation name) whose key ``table`` lacks.

    Returns the number of rows inserted. Runs inside the caller's transaction.
    """
    key = PRIMARY_KEYS[table]
    status = _REPLACEABLE.get(table)
    if status:
        con.execute(
            f"DELETE FROM {table} WHERE {status} <> 'ok' AND {key} IN "
            f"(SELECT {key} FROM {source} WHERE {status} = 'ok')"
        ).fetchall()
    sql = f"INSERT OR IGNORE INTO {table} BY NAME SELECT * FROM {source}"
    (inserted,) = con.execute(sql).fetchall()[0]
    return int(inserted)
