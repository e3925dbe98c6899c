"""Sub-command registry: every module in this package registers its sub-commands here.

A module calls ``register(name, help, configure, run)`` at import time; the CLI discovers
the modules by walking this package, so adding a command means adding a file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def register(
    name: str,
    help: str,
    configure: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
) -> None:
    """Add a sub-command; a name registered twice is a programming error."""
    if name in COMMANDS:
        raise RuntimeError(f"sub-command {name!r} registered twice")
    COMMANDS[name] = Command(name, help, configure, run)


def discover() -> dict[str, Command]:
    """Import every module of this package so that each registers its commands."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return COMMANDS
