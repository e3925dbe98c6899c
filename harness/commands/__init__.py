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

from sparsebench.registry import Registry


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: Registry[str, Command] = Registry("sub-command")


def register(
    name: str,
    help: str,
    configure: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
) -> None:
    """Add a sub-command; a name registered twice is a programming error."""
    COMMANDS.add(name, Command(name, help, configure, run))


def discover() -> Registry[str, Command]:
    """Import every module of this package so that each registers its commands."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return COMMANDS
