"""Output paths checked before any work: a folder that can be written, a file that can be
created or replaced. Each check tries the real thing (writes and removes a
probe file in the folder or, if it does not exist yet, in its nearest existing parent), so
a read-only file system or a folder the user cannot write is found up front,
not after training or benchmarking."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness.errors import BadInput


def writable_dir(path: str | Path, flag: str, fix: str = "pass a folder you can write"
                 ) -> Path:
    """``path`` as a folder this process can write into, or create; ``flag`` names where the
    path came from and ``fix`` what to do, in the one-line error. Nothing is left behind: a
    missing folder is not made here (the work makes it), its nearest existing parent is
    probed instead."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BadInput(f"{flag} {path}: {existing} is a file, not a folder; {fix}")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".sparsebench-probe-"):
            pass
    except OSError as exc:
        raise BadInput(f"{flag} {path}: cannot write there ({exc.strerror}); {fix}") from None
    return path


def writable_file(path: str | Path, flag: str) -> Path:
    """``path`` as a file this process can create or replace (its folder made if missing)."""
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{flag} {path} is a folder; pass a file path")
    writable_dir(path.parent if str(path.parent) else Path("."), f"{flag}'s folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise BadInput(f"{flag} {path} is not writable; pass another file path")
    return path
