"""Provenance: the code and software a measurement or a checkpoint was made with.

The one place for it: checkpoints (``patterns.checkpoint``), sweep runs (``harness.runner``)
and every command that writes a run record what this module returns. ``code_state()``
describes the project's own source tree -- the code that ran -- wherever the user stands:
its git commit and dirty flag (None outside a git checkout of this project, e.g. an
installed wheel) and ``code_fingerprint()``, a hash of every source file of the packages
(what the Ray executor compares between nodes). ``software_versions()`` gives the flat dict
whose keys are the columns of the results table ``software``. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The folder holding the project's packages (a checkout, or site-packages when installed)."""
PACKAGES = ("sparsebench", "harness", "patterns", "results", "kernels_c", "kernels_cuda")
SOURCE_SUFFIXES = frozenset({".py", ".c", ".h", ".cu", ".cuh", ".toml"})
SKIPPED_DIRS = frozenset({"__pycache__", "build"})  # caches, generated files
_VERSIONED = ("torch", "torchvision", "numpy", "duckdb", "pandas", "pyarrow", "cffi")
_COMMAND_TIMEOUT_S = 10


def command_output(command: list[str], cwd: str | Path | None = None) -> str | None:
    """stdout of a command, or None when it is missing, fails or hangs."""
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


# --------------------------------------------------------------------------- code


def git_state(path: str | Path = PROJECT_ROOT) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout at ``path``; (None, None) outside git.

    Dirty means tracked files differ from the commit; untracked files do not count.
    """
    commit = command_output(["git", "-C", str(path), "rev-parse", "HEAD"])
    if commit is None:
        return None, None
    status = command_output(["git", "-C", str(path), "status", "--porcelain",
                             "--untracked-files=no"])
    return commit.strip(), bool(status and status.strip())


def _is_checkout_root(path: Path) -> bool:
    """Whether ``path`` is the top of a git work tree (not a folder inside another one, as
    site-packages of a virtual environment kept inside someone's repository is)."""
    top = command_output(["git", "-C", str(path), "rev-parse", "--show-toplevel"])
    return top is not None and Path(top.strip()).resolve() == path.resolve()


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


@dataclass(frozen=True)
class CodeState:
    """The project's code as it ran: git commit and dirty flag (None when the code is not a
    git checkout of its own) and the source fingerprint (always known)."""

    commit: str | None
    dirty: bool | None
    fingerprint: str


def code_state(root: Path = PROJECT_ROOT) -> CodeState:
    """The state of the project's source tree at ``root`` -- never of the current folder."""
    commit, dirty = git_state(root) if _is_checkout_root(root) else (None, None)
    return CodeState(commit, dirty, code_fingerprint(root))


# --------------------------------------------------------------------------- software


def package_version(package: str) -> str | None:
    """The installed version of distribution ``package``; None when it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _torch_cuda() -> str | None:
    """The CUDA version torch was built with, read from torch/version.py without importing
    torch (seconds of start-up)."""
    try:
        text = Path(metadata.distribution("torch").locate_file("torch/version.py")).read_text()
    except (metadata.PackageNotFoundError, OSError):
        return None
    match = re.search(r"^cuda\b.*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return match.group(1) if match else None


def _compiler() -> str | None:
    compiler = os.environ.get("CC", "gcc")
    version = command_output([compiler, "-dumpfullversion", "-dumpversion"])
    return f"{Path(compiler).name} {version.strip()}" if version else None


def _nvcc() -> str | None:
    text = command_output(["nvcc", "--version"])
    match = re.search(r"release ([\d.]+)", text or "")
    return match.group(1) if match else None


def software_versions() -> dict[str, Any]:
    """Versions: Python, torch, torchvision, numpy, duckdb (+ pandas, pyarrow, cffi), the C
    compiler, the CUDA toolkit (nvcc) and torch's CUDA, and sparsebench itself (None when
    it is not installed as a distribution)."""
    software: dict[str, Any] = {"python": platform.python_version()}
    software.update({package: package_version(package) for package in _VERSIONED})
    software.update(
        {
            "compiler": _compiler(),
            "cuda": _nvcc(),
            "torch_cuda": _torch_cuda(),
            "sparsebench": package_version("sparsebench"),
            "python_implementation": platform.python_implementation(),
        }
    )
    return software
