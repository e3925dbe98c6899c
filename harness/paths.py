"""Output paths checked before any work: a folder that can be written, a file that can be
created or replaced. Each check tries the real thing (makes the folder, writes and removes a
probe file), so a read-only file system or a folder the user cannot write is found up front,
not after training or benchmarking."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness.errors import BadInput


def writable_dir(path: str | Path, flag: str, fix: str = "pass a folder you can write"
                 ) -> Path:
    """``path`` as a folder this process can write into (made if missing); ``flag`` names
    where the path came from and ``fix`` what to do, in the one-line error."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BadInput(f"{flag} {path} is a file, not a folder; {fix}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".sparsebench-probe-"):
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
