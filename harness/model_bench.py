"""Whole-model latency benchmark: every zoo model at its own input shape, each pattern
level, every backend (our kernels and the dense engines), verified then timed.

``bench_model`` is the unit: one prepared model on one backend checked against a float64
torch forward pass of the same masked weights, then timed, giving one measurement row
(median, p90, p99). ``sweep`` runs it over models x levels x threads x backends and
``with_speedups`` adds, per (model, threads, batch), the speedup over eager torch and over
the fastest fp32 dense engine of the same run.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from harness.backends import BACKENDS, what_ran
from harness.kernel_bench import Level, max_rel_error
from harness.model_latency import prepare_model
from harness.timing import measure, pinned_threads

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_MODELS = ("resnet50", "vgg16_bn", "mobilenet_v2")
DEFAULT_PATTERNS = ("dense", "unstructured", "block", "cs")
DEFAULT_SPARSITIES = (0.75, 0.9)
DEFAULT_THREADS = (1, 2)
MODEL_TOLERANCE = 1e-3  # fp32 whole forward pass vs float64 torch, max relative error
EAGER = "torch"  # the eager-torch baseline backend
MIN_REPEATS = 20  # timed calls at least, so p90 / p99 rest on more than a handful


@dataclass(frozen=True)
class ModelCase:
    """A zoo model with random weights masked at one level, its input and reference."""

    name: str
    level: Level | None  # None: dense
    model: nn.Module
    layer_patterns: dict[str, Any]
    x: torch.Tensor
    reference: torch.Tensor
    actual_density: float
    flops_dense: float
    flops_nonzero: float


def randomize_batch_norm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics and affine parameters, so that
    folding them into the convs is actually checked (fresh BN layers are the identity)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
    return model


def make_case(name: str, level: Level | None, batch: int, seed: int = 0) -> ModelCase:
    """Zoo model ``name`` (ImageNet head, random weights and BN statistics from ``seed``)
    masked by ``level``'s pattern under the layer policy, with a float64 reference."""
    import patterns
    from harness.layers import conv_layers
    from patterns import models

    size = models.model_info(name).input_size
    torch.manual_seed(seed)
    model = randomize_batch_norm(models.create_model(name, num_classes=1000), seed).eval()
    pattern = level.pattern if level else patterns.make("dense")
    plan = patterns.apply(model, pattern)
    with torch.no_grad():
        for layer, mask in plan.masks.items():
            model.get_submodule(layer).weight.mul_(mask)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed + 1))
    with torch.inference_mode():
        reference = copy.deepcopy(model).double()(x.double())
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    layers = conv_layers(model, size)
    density = {n: patterns.density(model.get_submodule(n).weight != 0) for n in plan.masks}
    return ModelCase(
        name, level, model, dict.fromkeys(plan.masks, pattern), x, reference,
        sum(int(w.count_nonzero()) for w in weights) / sum(w.numel() for w in weights),
        sum(layer.flops(batch) for layer in layers),
        sum(layer.flops(batch, density.get(layer.name, 1.0)) for layer in layers))


def _row(case: ModelCase, backend: str, threads: int) -> dict[str, Any]:
    pattern = case.level.pattern if case.level else None
    return {
        "scope": "model", "model": case.name, "layer": None, "layer_kind": None,
        "backend": backend, "kernel": None, "device": "cpu", "isa": None,
        "compile_flags": None, "kernel_source_hash": None,
        "pattern": pattern.name if pattern else "dense",
        "pattern_params": json.dumps(pattern.params if pattern else {}, sort_keys=True),
        "requested_sparsity": case.level.requested_sparsity if case.level else 0.0,
        "nominal_density": pattern.nominal_density if pattern else 1.0,
        "actual_density": case.actual_density, "threads": threads,
        "batch": case.x.shape[0], "in_channels": case.x.shape[1],
        "height": case.x.shape[2], "width": case.x.shape[3],
        "flops_dense": case.flops_dense, "flops_nonzero": case.flops_nonzero,
        "status": "error", "message": None, "precision": None,
    }


def _build_columns(backend: str) -> dict[str, Any]:
    info = BACKENDS[backend].build_info()
    flags = info.get("flags")
    return {"compile_flags": " ".join(flags) if isinstance(flags, list | tuple) else flags,
            "kernel_source_hash": info.get("source_hash")}


def bench_model(case: ModelCase, backend: str, threads: int, budget: float, *,
                min_repeats: int = MIN_REPEATS) -> dict[str, Any]:
    """Verify then time ``case`` on ``backend`` with ``threads``: one measurement row.

    An unavailable backend gives an 'error' row with the reason; a result off by more than
    the backend's tolerance (``MODEL_TOLERANCE`` for fp32) a 'wrong' row; neither is timed.
    """
    row = _row(case, backend, threads)
    ok, reason = BACKENDS[backend].availability()
    if not ok:
        row["message"] = reason
        return row
    try:
        with pinned_threads(threads):
            prepared = prepare_model(case.model, backend, case.layer_patterns,
                                     _dense(), case.x, device="cpu", threads=threads)
            with torch.inference_mode():
                error = max_rel_error(prepared(case.x), case.reference)
        row.update(kernel=prepared.kernel, isa=prepared.isa, precision=prepared.precision,
                   max_rel_error=error, **_build_columns(backend), **what_ran(prepared))
        tolerance = BACKENDS[backend].tolerance or MODEL_TOLERANCE
        if not error <= tolerance:  # NaN is wrong too
            row.update(status="wrong", message=f"max rel error {error:.3g} > {tolerance:g} "
                       "against float64 torch; not timed")
            return row
        with torch.inference_mode(), pinned_threads(threads):
            timing = measure(lambda: prepared(case.x), budget_s=budget,
                             min_repeats=min_repeats, max_repeats=max(1000, min_repeats))
    except Exception as exc:  # an engine that fails is a recorded result, not a crash
        row["message"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return row
    row.update(timing.as_row(), status="ok", message=prepared.note or None)
    return row


def _dense() -> Any:
    import patterns

    return patterns.make("dense")


def runs_on(backend: str, case: ModelCase) -> bool:
    """A dense-only backend (eager torch) is timed on the dense model only: on masked
    weights it costs what dense costs. Engines and our kernels run every level."""
    spec = BACKENDS[backend]
    return case.level is None or spec.exploits_sparsity or spec.times_masked


def sweep(models: Iterable[str], levels: list[Level], backends: list[str],
          threads: Iterable[int], batch: int, budget: float, *, seed: int = 0,
          min_repeats: int = MIN_REPEATS) -> Iterator[list[dict[str, Any]]]:
    """Rows per model: the dense model and every level, on every backend and thread count.

    Each model's rows come as one list (so speedups compare rows of the same run).
    """
    threads = list(threads)
    for name in models:
        group = []
        for level in [None, *levels]:
            case = make_case(name, level, batch, seed)
            for n_threads in threads:
                group.extend(bench_model(case, backend, n_threads, budget,
                                         min_repeats=min_repeats)
                             for backend in backends if runs_on(backend, case))
        yield group


def with_speedups(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows plus images/s, ``x_torch`` (eager torch dense / this) and ``x_best`` (the
    fastest fp32 dense row of the same model, threads and batch / this), naming that
    fastest dense engine in ``best_dense``."""
    import pandas as pd

    df = pd.DataFrame(rows)
    if df.empty:
        return df
    key = ["model", "threads", "batch"]
    dense = df[(df.pattern == "dense") & (df.status == "ok") & (df.precision == "fp32")]
    eager = dense[dense.backend == EAGER].set_index(key)["median_s"].rename("eager_s")
    fastest = dense.loc[dense.groupby(key)["median_s"].idxmin()].set_index(key)
    best = fastest[["median_s", "backend"]].rename(
        columns={"median_s": "best_dense_s", "backend": "best_dense"})
    df = df.join(eager, on=key).join(best, on=key)
    df["images_s"] = df["batch"] / df["median_s"]
    df["x_torch"] = df["eager_s"] / df["median_s"]
    df["x_best"] = df["best_dense_s"] / df["median_s"]
    return df.drop(columns=["eager_s", "best_dense_s"])
