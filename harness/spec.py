"""Sweep specs: the TOML file that says what a sweep trains and measures, validated up front.

Every table maps onto a frozen dataclass below. Parsing walks the dataclass fields, so an
unknown key or a value of the wrong type is reported with the closest valid name before
anything runs (``BadInput``, exit status 2 from the CLI).
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.spec_checks import check_spec
from harness.timing import TimingSettings
from sparsebench.registry import did_you_mean


@dataclass(frozen=True)
class PatternSpec:
    """One pattern of the sweep: swept over ``sparsities`` with fixed ``params``."""

    name: str
    sparsities: tuple[float, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    recipe: str = "oneshot"


@dataclass(frozen=True)
class TrainSpec:
    """How checkpoints are trained (the dense parent first, then each sparse child)."""

    dense_epochs: int = 2
    epochs: int = 1
    batch_size: int = 128
    lr: float = 0.1
    warmup_epochs: float = 1.0
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    train_subset: int | None = None  # training images of the dense parents (None: all)
    finetune_subset: int | None = None  # of the sparse children (None: train_subset)
    test_subset: int | None = None  # evaluated test images (None: the whole test split)
    threads: int = 2


@dataclass(frozen=True)
class TimingSpec(TimingSettings):
    """Warm-up and repeat policy for every timed call: ``harness.timing.TimingSettings``
    with the sweep's defaults."""

    warmup: int = 2
    max_repeats: int = 100
    budget_s: float = 0.5
    target_rel_ci: float = 0.03


@dataclass(frozen=True)
class LatencySpec:
    """Which latencies to measure.

    ``layers``: every prunable conv of each trained model, with the checkpoint's masks;
    ``model``: each trained model's whole forward pass; ``shape_models``: models measured
    layer by layer at their own input size (ImageNet shapes) with random weights masked by
    every pattern of the sweep at ``shape_sparsities`` — latency only, no accuracy.
    """

    layers: bool = True
    model: bool = True
    shape_models: tuple[str, ...] = ()
    shape_sparsities: tuple[float, ...] = ()


@dataclass(frozen=True)
class ExecutorSpec:
    """Where the jobs run (docs/executors.md): ``local``, one after another in this process,
    or ``ray``, fanned out over the Ray cluster at ``address`` (none: a Ray of this machine
    alone). A cluster job whose worker dies is retried up to ``max_retries`` times."""

    name: str = "local"
    address: str | None = None
    max_retries: int = 2


@dataclass(frozen=True)
class SweepSpec:
    """The whole sweep."""

    name: str
    dataset: str = "fashion-mnist"
    models: tuple[str, ...] = ("resnet20",)
    patterns: tuple[PatternSpec, ...] = ()
    seeds: tuple[int, ...] = (0,)
    backends: tuple[str, ...] = ("torch", "c")
    devices: tuple[str, ...] = ("cpu",)
    threads: tuple[int, ...] = (1,)
    batch_sizes: tuple[int, ...] = (1,)
    train: TrainSpec = field(default_factory=TrainSpec)
    timing: TimingSpec = field(default_factory=TimingSpec)
    latency: LatencySpec = field(default_factory=LatencySpec)
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)
    data_root: str | None = None


PRESETS = ("quick", "full")


def load_preset(name: str) -> tuple[SweepSpec, str]:
    """Parse a preset shipped with the package; returns the spec and its TOML text."""
    _check_names((name,), PRESETS, "preset")
    text = resources.files("harness.presets").joinpath(f"{name}.toml").read_text()
    return parse_spec(text, source=f"preset {name}"), text


def load_spec_file(path: str | Path) -> tuple[SweepSpec, str]:
    """Parse a user's sweep file; returns the spec and its TOML text."""
    path = Path(path)
    try:
        text = path.read_text()
    except IsADirectoryError:
        raise BadInput(f"sweep file {path} is a folder; pass a TOML file") from None
    except OSError as exc:
        raise BadInput(f"cannot read sweep file {path}: {exc.strerror}; check the path") from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"sweep file {path} is not UTF-8 text (byte {exc.start}); "
                       "pass a TOML sweep file") from None
    return parse_spec(text, source=str(path)), text


def parse_spec(text: str, *, source: str = "spec") -> SweepSpec:
    """TOML text -> validated ``SweepSpec``; ``BadInput`` naming the key and the fix."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{source} is not valid TOML: {exc}; fix the syntax") from None
    spec = _build(SweepSpec, table, source)
    _check_values(spec, source)
    return spec


def _build(cls: type, table: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise BadInput(f"{where} must be a table, got {type(table).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in table:
        if key not in fields:
            raise BadInput(f"unknown key {key!r} in {where}{did_you_mean(key, fields)}; "
                           f"valid keys: {', '.join(fields)}")
    values = {}
    for name, f in fields.items():
        if name in table:
            values[name] = _convert(hints[name], table[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise BadInput(f"{where} needs the key {name!r}")
    return cls(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(options[0], value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise BadInput(f"{where} must be a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise BadInput(f"{where} must be a table, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise BadInput(f"{where} must be {hint.__name__}, got {value!r}")
    return value


def _check_values(spec: SweepSpec, source: str) -> None:
    """Names and ranges that the dataclass types cannot express."""
    import patterns
    from harness.backends import BACKENDS, DEVICES
    from patterns import data, models

    _check_names(spec.models, models.available_models(), "model", source)
    _check_names(spec.latency.shape_models, models.available_models(), "shape model", source)
    _check_names((spec.dataset,), data.available_datasets(), "dataset", source)
    _check_names(spec.backends, BACKENDS, "backend", source)
    _check_names(spec.devices, DEVICES, "device", source)
    _check_names([p.name for p in spec.patterns], patterns.available(), "pattern", source)
    from patterns.training import available_recipes

    _check_names([p.recipe for p in spec.patterns], available_recipes(), "recipe", source)
    check_spec(spec, source)
    check_executor(spec.executor, source)


def check_executor(options: ExecutorSpec, source: str) -> None:
    """The executor's name and retry bound (the CLI's overrides are checked here too)."""
    from harness.executors import SWEEP_EXECUTORS

    _check_names((options.name,), SWEEP_EXECUTORS, "executor", source)
    if options.max_retries < 0:
        raise BadInput(f"{source}: executor.max_retries must be >= 0, got {options.max_retries}")
    if options.address is not None and options.name != "ray":
        raise BadInput(f"{source}: a Ray address ({options.address}) needs executor 'ray'; "
                       "add --executor ray or drop the address")


def _check_names(given: typing.Iterable[str], valid: typing.Iterable[str], what: str,
                 source: str = "") -> None:
    valid = list(valid)
    for name in given:
        if name not in valid:
            where = f"{source}: " if source else ""
            raise BadInput(f"{where}unknown {what} {name!r}{did_you_mean(name, valid)}; "
                           f"valid: {', '.join(valid)}")
