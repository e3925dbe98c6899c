"""Ctrl-C and the processes behind runs: cleanup that a second Ctrl-C cannot cut short, and
whether the process that started a run still runs (so a live run is never marked
interrupted by another sweep)."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def is_interrupt(exc: BaseException) -> bool:
    """Ctrl-C, also when it reached DuckDB first (which turns it into InterruptException)."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    import duckdb

    return isinstance(exc, duckdb.InterruptException)


@contextmanager
def first_interrupt_only() -> Iterator[None]:
    """The body's first Ctrl-C raises KeyboardInterrupt; every later one is ignored, also
    after the body: once interrupted, the process is ending, and its cleanup (closing the
    run, DuckDB's and torch's exit handlers) must not be cut short by a second Ctrl-C.
    Without an interrupt the previous handler comes back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupted = False

    def first(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        if not interrupted:
            signal.signal(signal.SIGINT, previous)


@contextmanager
def sigint_deferred() -> Iterator[None]:
    """Ignore SIGINT in the body (the main thread's cleanup); restore the handler after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def this_process() -> dict[str, Any]:
    """What ``process_alive`` needs to recognise this process later: host and pid."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def process_alive(notes: dict[str, Any] | None) -> bool:
    """True when ``notes`` (a run's) name a process on this host that still runs.

    Runs recorded before pids were (no pid) count as gone; runs of another host as alive,
    since nothing here can tell.
    """
    if not notes or "pid" not in notes:
        return False
    if notes.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(notes["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return int(notes["pid"]) != os.getpid()
