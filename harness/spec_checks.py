"""Range checks of a parsed sweep spec that its field types cannot express.

Everything a job would otherwise find out only when it runs (after training, or never when
every job is already stored) is checked here, before any work: thread counts within what
the kernels take, the ``[timing]`` and ``[train]`` policies, non-empty lists, pattern
parameters of the right type, and pattern parameters that divide the channels of at least
one layer of each model the sweep would prune.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.errors import BadInput
from sparsebench.registry import Registry

Check = Callable[[Any, str], None]
CHECKS: Registry[str, Check] = Registry("spec check")


def check(fn: Check) -> Check:
    """Register a check ``fn(spec, source)`` that raises ``BadInput``."""
    return CHECKS.register(fn.__name__)(fn)


def check_spec(spec: Any, source: str) -> None:
    for fn in CHECKS.values():
        fn(spec, source)


@check
def _non_empty(spec: Any, source: str) -> None:
    for name in ("seeds", "backends", "devices", "threads", "batch_sizes"):
        if not getattr(spec, name):
            raise BadInput(f"{source}: '{name}' is an empty list, so the sweep would run "
                           f"nothing; list at least one or leave the key out for the default")
    if not spec.models and not spec.latency.shape_models:  # shape models alone are a sweep
        raise BadInput(f"{source}: 'models' and [latency] 'shape_models' are both empty, so "
                       "the sweep would run nothing; list at least one model")


@check
def _counts(spec: Any, source: str) -> None:
    from kernels_c import max_threads  # the C kernels' limit, read from sb.h (no build)

    limit = max_threads()
    numbers = [*((t, "threads", limit) for t in spec.threads),
               (spec.train.threads, "train.threads", limit),
               *((b, "batch_sizes", 1 << 20) for b in spec.batch_sizes)]
    for number, where, most in numbers:
        if not 1 <= number <= most:
            raise BadInput(f"{source}: {where} must be in 1..{most}, got {number}")


@check
def _timing(spec: Any, source: str) -> None:
    from harness.timing import check_args

    t = spec.timing
    try:
        check_args(t.warmup, t.min_repeats, t.max_repeats, t.budget_s, t.target_rel_ci)
    except ValueError as exc:
        raise BadInput(f"{source}: [timing] {exc}") from None


@check
def _train(spec: Any, source: str) -> None:
    t = spec.train
    rules = [
        (t.dense_epochs >= 1, f"dense_epochs must be >= 1, got {t.dense_epochs}"),
        (t.epochs >= 1, f"epochs must be >= 1, got {t.epochs}"),
        (t.batch_size >= 1, f"batch_size must be >= 1, got {t.batch_size}"),
        (t.lr > 0, f"lr must be positive, got {t.lr}"),
        (t.warmup_epochs >= 0, f"warmup_epochs must be >= 0, got {t.warmup_epochs}"),
        (t.weight_decay >= 0, f"weight_decay must be >= 0, got {t.weight_decay}"),
        (0 <= t.label_smoothing < 1, f"label_smoothing must be in [0, 1), got "
                                     f"{t.label_smoothing}"),
        (t.train_subset is None or t.train_subset >= 1,
         f"train_subset must be >= 1, got {t.train_subset}"),
        (t.test_subset is None or t.test_subset >= 1,
         f"test_subset must be >= 1, got {t.test_subset}"),
    ]
    for ok, message in rules:
        if not ok:
            raise BadInput(f"{source}: [train] {message}")


def levels(spec: Any, source: str, *, shape_models: bool) -> list[Any]:
    """Every swept pattern level (of the trained models, or of the shape models);
    BadInput for a sparsity or a parameter the pattern cannot take."""
    import patterns

    found = []
    for p in spec.patterns:
        if p.name != "dense" and not p.sparsities:
            raise BadInput(f"{source}: pattern {p.name!r} needs a non-empty 'sparsities' list")
        for s in spec.latency.shape_sparsities if shape_models else p.sparsities:
            if not 0.0 < s < 1.0:
                raise BadInput(f"{source}: pattern {p.name!r} sparsity {s} outside (0, 1)")
            try:
                found.append(patterns.nearest_level(p.name, s, **p.params))
            except (TypeError, ValueError) as exc:
                raise BadInput(f"{source}: pattern {p.name!r} params {p.params} rejected: "
                               f"{exc}; fix the values in its 'params' table") from None
    return found


@check
def _fits_layers(spec: Any, source: str) -> None:
    """Every level must fit some conv the sweep prunes (e.g. n:m's m divides its Cin);
    the convs it does not fit stay dense, as ``patterns.apply`` keeps them."""
    from harness.measure import input_spec

    trained = levels(spec, source, shape_models=False)
    shaped = levels(spec, source, shape_models=True)
    for name in spec.models:
        _check_fit(name, input_spec(name, spec.dataset), trained, source)
    for name in spec.latency.shape_models:
        _check_fit(name, input_spec(name), shaped, source)


def _check_fit(model_name: str, shape: tuple[int, int, int], pattern_levels: list[Any],
               source: str) -> None:
    from torch import nn

    from patterns.models import create_model
    from patterns.policy import prunable

    if not pattern_levels:
        return
    channels, _size, classes = shape
    model = create_model(model_name, num_classes=classes, in_channels=channels)
    convs = [(name, model.get_submodule(name)) for name in prunable(model)
             if isinstance(model.get_submodule(name), nn.Conv2d)]
    for level in pattern_levels:
        reasons = [level.check_shape(conv.weight.shape) for _name, conv in convs]
        if convs and all(reasons):  # a layer that cannot take it stays dense; none can: refuse
            raise BadInput(f"{source}: {level.describe()} fits no layer of {model_name} "
                           f"(first: {convs[0][0]}: {reasons[0]})")
