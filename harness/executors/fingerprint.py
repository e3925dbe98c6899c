"""A fingerprint of the code a process would run: every source file of the project's
packages. Row keys depend on that code, so a cluster node running other code than the
driver is refused before any work (docs/executors.md)."""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGES = ("harness", "patterns", "results", "kernels_c", "kernels_cuda")
SOURCE_SUFFIXES = frozenset({".py", ".c", ".h", ".cu", ".cuh", ".toml"})
SKIPPED_DIRS = frozenset({"__pycache__", "build"})  # caches, generated files
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def code_fingerprint(root: Path = PROJECT_ROOT) -> str:
    """sha256 over the relative path and bytes of each source file under ``root``'s
    packages, in sorted order."""
    digest = hashlib.sha256()
    for package in PACKAGES:
        files = sorted(p for p in (root / package).rglob("*")
                       if p.suffix in SOURCE_SUFFIXES and p.is_file()
                       and not SKIPPED_DIRS.intersection(p.relative_to(root).parts))
        for path in files:
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
