"""Content-hash keys: the same configuration always gets the same key, on any machine.

A key is the sha256 of the canonical JSON of the *configuration* columns of a row, never of
its outcome (timings, accuracy, status, run): measuring or training the same thing twice
produces the same key, so a re-run adds no duplicate and files from several machines merge.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

# What the harness asks for (known before it measures), not what it got back.
MEASUREMENT_KEY_COLUMNS = (
    "scope", "model", "layer", "backend", "device", "isa", "compile_flags",
    "kernel_source_hash", "pattern", "pattern_params", "requested_sparsity", "threads",
    "batch", "in_channels", "out_channels", "height", "width", "kernel_h", "kernel_w",
    "stride", "padding", "checkpoint_key", "mask_hash", "machine_id", "software_id",
)  # fmt: skip
CHECKPOINT_KEY_COLUMNS = (
    "model", "dataset", "pattern", "pattern_params", "requested_sparsity", "recipe",
    "recipe_params", "seed", "epochs",
)  # fmt: skip
# Columns that identify a machine's hardware and OS; the hostname is not part of it, so
# identical machines (or one container under new names) share one machine_id.
MACHINE_EXCLUDED = frozenset({"machine_id", "hostname"})
JSON_COLUMNS = frozenset({"pattern_params", "recipe_params", "notes", "layer_table", "details"})


def canonical(value: Any) -> Any:
    """A JSON-ready value that compares equal across int/float/numpy/NaN spellings."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy / torch scalars
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        if math.isnan(number):
            return None
        return int(number) if number.is_integer() else float(f"{number:.12g}")
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    raise ValueError(f"cannot key a value of type {type(value).__name__}: {value!r}")


def _column_value(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS and isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"column {column} must hold JSON, got {value[:60]!r}") from exc
    return canonical(value)


def digest(kind: str, row: Mapping[str, Any], columns: tuple[str, ...]) -> str:
    """sha256 hex of ``kind`` and the canonical values of ``columns`` (missing = null)."""
    payload = [kind, [_column_value(c, row.get(c)) for c in columns]]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def measurement_key(row: Mapping[str, Any]) -> str:
    """The key of a measurement row (needs machine_id and software_id to be set)."""
    return digest("measurement", row, MEASUREMENT_KEY_COLUMNS)


def checkpoint_key(row: Mapping[str, Any]) -> str:
    """The key of a checkpoint: its training configuration, not its weights."""
    return digest("checkpoint", row, CHECKPOINT_KEY_COLUMNS)


def machine_id(machine: Mapping[str, Any]) -> str:
    """The key of a captured machine dict (every field but the hostname)."""
    columns = tuple(sorted(set(machine) - MACHINE_EXCLUDED))
    return digest("machine", machine, columns)


def software_id(software: Mapping[str, Any]) -> str:
    """The key of a captured software dict (every field)."""
    columns = tuple(sorted(set(software) - {"software_id"}))
    return digest("software", software, columns)


def text_hash(text: str) -> str:
    """sha256 hex of a text (the spec of a run)."""
    return hashlib.sha256(text.encode()).hexdigest()


def json_text(column: str, value: Any) -> str | None:
    """The stored form of a JSON column: canonical JSON text with sorted keys."""
    if value is None:
        return None
    return json.dumps(_column_value(column, value), sort_keys=True, allow_nan=False)
