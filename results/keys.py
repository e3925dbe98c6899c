"""Content-hash keys: the same configuration always gets the same key, on any machine.

A key is the sha256 of the canonical values of the *configuration* columns of a row, never
of its outcome (timings, accuracy, status, run): measuring or training the same thing twice
produces the same key, so a re-run adds no duplicate and files from several machines merge.

A measurement's key says what the row means, and nothing a writer happens to carry along:
what ran (scope, model, layer, backend, device, threads, batch), on which weights (the
checkpoint; for random weights, the pattern, its parameters and the requested sparsity),
where (machine) and with what (software, the backend's kernel source hash). Every writer
(the sweep, ``sparsebench kernels --db``, ``models``, a Ray node) keys its rows with
``measurement_key``, so the same configuration measured by any of them is one row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# What a measurement row means: known before anything is measured, so a sweep can tell
# from a job alone whether its row is stored. Shapes, ISA and flags follow from these.
MEASUREMENT_KEY_COLUMNS = (
    "scope", "model", "layer", "backend", "device", "threads", "batch", "checkpoint_key",
    "pattern", "pattern_params", "requested_sparsity", "kernel_source_hash", "machine_id",
    "software_id",
)  # fmt: skip
# A checkpoint fixes its weights: with a checkpoint_key these say nothing more (and a layer
# the layer policy kept dense records 'dense' in a sparse checkpoint).
WEIGHTS_OF_CHECKPOINT = ("pattern", "pattern_params", "requested_sparsity")
CHECKPOINT_KEY_COLUMNS = (
    "model", "dataset", "pattern", "pattern_params", "requested_sparsity", "recipe",
    "recipe_params", "seed", "epochs",
)  # fmt: skip
# Columns that identify a machine's hardware and OS; the hostname is not part of it, so
# identical machines (or one container under new names) share one machine_id.
MACHINE_EXCLUDED = frozenset({"machine_id", "hostname"})
JSON_COLUMNS = frozenset({"pattern_params", "recipe_params", "notes", "layer_table", "details"})


def canonical(value: Any) -> Any:
    """A hashable value with one spelling for equal configurations: int-valued floats and
    numpy scalars become int, NaN becomes None, mappings sorted (key, value) pairs."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if value != value:  # NaN: pandas' spelling of a missing value
            return None
        return int(value) if value.is_integer() else float(f"{value:.12g}")
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return canonical(value.item())  # numpy / torch scalars
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return canonical(float(value))
    if isinstance(value, Mapping):  # sorted (key, value) pairs: order-free
        return tuple(sorted((str(k), canonical(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("list", *(canonical(v) for v in value))
    raise ValueError(f"cannot key a value of type {type(value).__name__}: {value!r}")


def _json_value(column: str, value: Any) -> Any:
    """The canonical value of a JSON column, given as JSON text or as the object."""
    return canonical(_parse_json(column, value) if isinstance(value, str) else value)


def _parse_json(column: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"column {column} must hold JSON, got {text[:60]!r}") from exc


_AS_IS = frozenset({str, int, bool, type(None)})  # types canonical() returns unchanged


def canonical_column(column: str, values: Sequence[Any]) -> Sequence[Any]:
    """``canonical`` of every value of one column, fast for the common cases: a column
    of str/int/None is its own canonical form, and repeated JSON values are done once."""
    if column in JSON_COLUMNS:
        return per_distinct(values, lambda v: _json_value(column, v))
    if _AS_IS.issuperset(map(type, values)):
        return values
    return [canonical(v) for v in values]


def per_distinct(values: Sequence[Any], convert: Callable[[Any], Any]) -> list[Any]:
    """``[convert(v) for v in values]``, converting each distinct value once: strings by
    value, other objects (dicts, still alive for this call) by identity."""
    done: dict[Any, Any] = {}
    out = []
    for value in values:
        memo = value if type(value) is str else id(value)
        if memo not in done:
            done[memo] = convert(value)
        out.append(done[memo])
    return out


def digest_columns(
    kind: str, values: Mapping[str, Sequence[Any]], columns: tuple[str, ...], count: int
) -> list[str]:
    """Keys of ``count`` rows given column-wise (``values``: column -> its values).

    A key is the sha256 hex of the repr of ``kind`` and the row's canonical values of
    ``columns`` (a missing column counts as None). ``repr`` of canonical values (str, int,
    float, bool, None, tuples) is exact and stable across Python versions, and fast.
    """
    missing = [None] * count
    canonical_columns = [canonical_column(c, values.get(c, missing)) for c in columns]
    rows = zip(*canonical_columns, strict=True) if canonical_columns else [()] * count
    return [hashlib.sha256(repr((kind, row)).encode()).hexdigest() for row in rows]


def digest(kind: str, row: Mapping[str, Any], columns: tuple[str, ...]) -> str:
    """The key of one row given as a mapping (see ``digest_columns``)."""
    return digest_columns(kind, {c: [row.get(c)] for c in columns}, columns, 1)[0]


def measurement_key(row: Mapping[str, Any]) -> str:
    """The key of a measurement row or of a job's configuration given as its columns
    (``MEASUREMENT_KEY_COLUMNS``; machine_id and software_id must be set)."""
    return measurement_keys({c: [row.get(c)] for c in MEASUREMENT_KEY_COLUMNS}, 1)[0]


def checkpoint_key(row: Mapping[str, Any]) -> str:
    """The key of a checkpoint: its training configuration, not its weights."""
    return digest("checkpoint", row, CHECKPOINT_KEY_COLUMNS)


def measurement_keys(values: Mapping[str, Sequence[Any]], count: int) -> list[str]:
    """``measurement_key`` of many rows given column-wise (the bulk insert path)."""
    trained = [isinstance(ck, str) for ck in values.get("checkpoint_key", [None] * count)]
    if any(trained):  # NaN (pandas' missing value) is not a key
        values = dict(values)
        for column in WEIGHTS_OF_CHECKPOINT:
            given = values.get(column, [None] * count)
            values[column] = [None if t else v for t, v in zip(trained, given, strict=True)]
    return digest_columns("measurement", values, MEASUREMENT_KEY_COLUMNS, count)


def checkpoint_keys(values: Mapping[str, Sequence[Any]], count: int) -> list[str]:
    """``checkpoint_key`` of many rows given column-wise (the bulk insert path)."""
    return digest_columns("checkpoint", values, CHECKPOINT_KEY_COLUMNS, count)


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
    if isinstance(value, str):
        value = _parse_json(column, value)
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {column} must be JSON-serialisable: {exc}") from exc
