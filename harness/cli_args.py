"""What the benchmark sub-commands share: comma-separated list arguments, number cells
for printed tables, and opening a results store for a run."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from typing import Any


def csv_list(kind: type) -> Callable[[str], list]:
    """An argparse type: ``'a,b'`` -> ``[kind('a'), kind('b')]``."""
    def parse(text: str) -> list:
        try:
            return [kind(item) for item in text.split(",") if item.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: give a comma-separated list of {kind.__name__}") from None
    return parse


def num(value: Any, spec: str, scale: float = 1.0) -> str:
    """``value * scale`` formatted with ``spec``; '-' for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value * scale, spec)


def open_store(path: str, command: str, args: argparse.Namespace,
               notes: dict[str, Any]) -> tuple[Any, str]:
    """The results store at ``path`` and a new run of ``command`` with ``args`` as its spec."""
    import results
    from harness.environment import capture_machine, capture_software, git_state

    store = results.Store(path)
    commit, dirty = git_state()
    spec = json.dumps({k: v for k, v in vars(args).items() if not k.startswith("_")},
                      sort_keys=True)
    return store, store.begin_run(command, spec, capture_machine(), capture_software(),
                                  commit, dirty, notes=notes)
