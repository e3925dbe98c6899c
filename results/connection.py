"""Short-lived DuckDB connections with a bounded wait for a file another process holds.

DuckDB lets one process write a file at a time (an OS file lock). The store therefore opens
a connection per operation and closes it straight after, and ``connect`` retries a locked
file with exponential backoff up to ``timeout`` seconds before raising ``StoreBusy``.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

DEFAULT_TIMEOUT_S = 30.0
_LOCK_MESSAGES = ("could not set lock", "conflicting lock", "different configuration")
T = TypeVar("T")


class StoreBusy(RuntimeError):
    """Another process held the results file for longer than the timeout."""


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (DuckDB's run to several)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and any(m in text for m in _LOCK_MESSAGES)


def with_lock_retry(action: Callable[[], T], path: str, timeout: float) -> T:
    """Call ``action`` until it stops failing on a file lock, for at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            return action()
        except duckdb.Error as exc:
            if not is_lock_error(exc):
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                holder = re.search(r"PID (\d+)", str(exc))
                who = f"process {holder.group(1)}" if holder else "another connection"
                raise StoreBusy(
                    f"{path} is locked by {who} for more than {timeout:g} s; "
                    "wait for it to finish, then run the command again"
                ) from exc
            time.sleep(min(delay * random.uniform(0.5, 1.0), remaining))
            delay = min(delay * 2, 0.25)


# A sandboxed reader touches no file but its own: no ATTACH, COPY TO, read_csv, EXPORT,
# INSTALL or LOAD (DuckDB's enable_external_access), and the caller locks the configuration
# once its views are made, so SQL cannot switch it back.
SANDBOX_CONFIG = {"enable_external_access": False}


@contextmanager
def connect(
    path: str | Path, *, read_only: bool, timeout: float = DEFAULT_TIMEOUT_S,
    sandbox: bool = False,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open ``path`` for one operation and close it afterwards (closing checkpoints the WAL).

    ``sandbox`` (read-only only): the connection cannot reach any other file.
    ValueError (one line) when the file is not a DuckDB database; StoreBusy when locked.
    """
    name = str(path)
    if sandbox and not read_only:
        raise ValueError("a sandboxed connection is read-only")
    config = SANDBOX_CONFIG if sandbox else {}

    def open_file() -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(name, read_only=read_only, config=dict(config))
        except duckdb.Error as exc:
            if is_lock_error(exc):
                raise
            raise ValueError(
                f"cannot open {name} as a sparsebench results database: {first_line(exc)}"
            ) from exc

    con = with_lock_retry(open_file, name, timeout)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK when the body raises: all of it is written or none."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
