"""Sweep specs (TOML text) for the tests and benchmarks: the tiny training and quick timing
settings live here once, and each caller names only what it changes.

    from specs import sweep_toml     # pytest puts tests/ on sys.path; a benchmark script
                                     # adds it (benchmarks/bench_executors.py)
    text = sweep_toml("t", [{"name": "nm", "sparsities": [0.5]}], backends=["c"])
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

#: one epoch each on 128 images: a checkpoint in seconds
TINY_TRAIN = {"dense_epochs": 1, "epochs": 1, "batch_size": 64, "train_subset": 128,
              "test_subset": 128, "threads": 1}
#: a handful of repeats, stopped early: timings that only have to exist
QUICK_TIMING = {"warmup": 1, "min_repeats": 2, "max_repeats": 5, "budget_s": 0.01,
                "target_rel_ci": 0.5}
TOP_DEFAULTS = {"dataset": "fashion-mnist", "models": ["resnet20"], "backends": ["torch", "c"],
                "threads": [1], "batch_sizes": [1]}


def toml_value(value: Any) -> str:
    """``value`` as a TOML value: strings, booleans, numbers, lists and inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _table(header: str, values: Mapping[str, Any]) -> str:
    return "\n".join([header, *(f"{k} = {toml_value(v)}" for k, v in values.items())])


def sweep_toml(name: str, patterns: Sequence[Mapping[str, Any]], *,
               train: Mapping[str, Any] | None = None, timing: Mapping[str, Any] | None = None,
               latency: Mapping[str, Any] | None = None,
               executor: Mapping[str, Any] | None = None, **top: Any) -> str:
    """A sweep spec named ``name`` over ``patterns`` (one ``[[patterns]]`` table each).

    ``top`` overrides the top-level keys (``TOP_DEFAULTS``; ``seeds``, ``data_root`` ...),
    ``train`` and ``timing`` override single keys of ``TINY_TRAIN`` and ``QUICK_TIMING``;
    ``latency`` and ``executor`` are written only when given."""
    parts = [_table(f"name = {toml_value(name)}", {**TOP_DEFAULTS, **top}),
             _table("[train]", {**TINY_TRAIN, **(train or {})}),
             _table("[timing]", {**QUICK_TIMING, **(timing or {})})]
    parts += [_table(f"[{key}]", table) for key, table in
              (("latency", latency), ("executor", executor)) if table is not None]
    parts += [_table("[[patterns]]", pattern) for pattern in patterns]
    return "\n\n".join(parts) + "\n"
