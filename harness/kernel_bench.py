"""Per-layer kernel benchmark: every prunable conv of a model, every backend, verified then timed.

``bench_layer`` is the unit a runner can reuse: it masks a weight with a pattern,
checks the backend's output against ``torch.nn.functional.conv2d`` (float64 reference) and
only then times it, returning one row with the results store's measurement columns. A
wrong result gets ``status='wrong'`` and no timing. ``sweep`` runs it over models, layers,
patterns, sparsities and thread counts; ``with_speedups`` and ``summarise`` derive the
ratios against our dense kernel and torch's dense conv measured in the same run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.backends import BACKENDS, PreparedConv, what_ran
from harness.layers import ConvLayer, conv_layers
from harness.timing import measure, pinned_threads

if TYPE_CHECKING:
    import pandas as pd
    import torch

DEFAULT_MODELS = ("resnet50", "vgg16_bn", "mobilenet_v2")
DEFAULT_PATTERNS = ("unstructured", "nm", "block", "cs", "filter")
DEFAULT_SPARSITIES = (0.5, 0.75, 0.875, 0.9375)
DEFAULT_THREADS = (1, 2)
MAX_REL_ERROR = 1e-4  # the kernels' contract: fp32 output within 1e-4 of torch
# Parameters fixed per pattern in the kernel sweep (the rest take the pattern's defaults).
SWEEP_PARAMS: dict[str, dict[str, Any]] = {"block": {"n": 16, "balance": "uniform"}}
# Representative layers for continuous benchmarking (asv): "model:layer" -> its shape.
REPRESENTATIVE_LAYERS = {
    "resnet50:layer3.1.conv1": ConvLayer("layer3.1.conv1", 1024, 256, 1, 1, 1, 0, 1, 14, 14),
    "resnet50:layer3.1.conv2": ConvLayer("layer3.1.conv2", 256, 256, 3, 3, 1, 1, 1, 14, 14),
    "mobilenet_v2:features.12.conv.0.0": ConvLayer("features.12.conv.0.0", 96, 576, 1, 1, 1,
                                                   0, 1, 14, 14),
}
# The dense baselines every sparse row is compared with: (backend, label in the tables).
BASELINES = (("torch", "torch"), ("c", "c_dense"))


def skip_reason(layer: ConvLayer) -> str | None:
    """Why the layer policy keeps ``layer`` dense (stem, depthwise/grouped), else None."""
    if layer.groups != 1:
        return "grouped/depthwise conv: stays dense (layer policy)"
    if layer.is_stem:
        return "stem conv: stays dense (layer policy)"
    if layer.dilation != 1:
        return "dilated conv: the kernels take dilation 1 only"
    return None


def model_layers(model: str) -> list[ConvLayer]:
    """The conv layers of zoo model ``model`` at its native input size."""
    from patterns import models

    info = models.model_info(model)
    return conv_layers(models.create_model(model), info.input_size)


def prunable_layers(model: str, limit: int | None = None) -> list[ConvLayer]:
    """The layers of ``model`` the layer policy prunes, the first ``limit`` if given."""
    layers = [layer for layer in model_layers(model) if skip_reason(layer) is None]
    return layers if limit is None else layers[:limit]


@dataclass(frozen=True)
class LayerCase:
    """One layer's inputs for one pattern: masked weight, input, float64 reference output."""

    layer: ConvLayer
    pattern: Any  # patterns.Pattern
    weight: torch.Tensor
    x: torch.Tensor
    reference: torch.Tensor
    actual_density: float
    mask_hash: str


def random_weight(layer: ConvLayer, seed: int = 0) -> torch.Tensor:
    """Kaiming-scaled normal weight of the layer's shape, a pure function of name and seed."""
    import torch

    gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(layer.name.encode()))
    fan_in = layer.weight_shape[1] * layer.kernel_h * layer.kernel_w
    return torch.randn(layer.weight_shape, generator=gen) * math.sqrt(2.0 / fan_in)


def random_input(layer: ConvLayer, batch: int, seed: int = 0) -> torch.Tensor:
    """A normal NCHW float32 input of the layer's input shape."""
    import torch

    gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(layer.name.encode()) + 1)
    return torch.randn(batch, layer.in_channels, layer.height, layer.width, generator=gen)


def make_case(layer: ConvLayer, pattern: Any, batch: int, *, seed: int = 0,
              weight: torch.Tensor | None = None, x: torch.Tensor | None = None) -> LayerCase:
    """Mask ``weight`` (random if None) with ``pattern`` and compute the reference output.

    ValueError when the pattern cannot take the layer's shape.
    """
    import torch
    import torch.nn.functional as F

    reason = pattern.check_shape(layer.weight_shape)
    if reason:
        raise ValueError(f"{layer.name}: {pattern.describe()} cannot take "
                         f"{layer.weight_shape}: {reason}")
    dense = random_weight(layer, seed) if weight is None else weight.detach().float().cpu()
    mask = pattern.mask(dense)
    masked = (dense * mask).contiguous()
    x = random_input(layer, batch, seed) if x is None else x
    with torch.no_grad():
        reference = F.conv2d(x.double(), masked.double(), None, layer.stride, layer.padding,
                             layer.dilation, layer.groups)
    mask_bytes = mask.to(torch.uint8).flatten().numpy().tobytes()
    return LayerCase(layer, pattern, masked, x, reference,
                     float(mask.float().mean()), hashlib.sha256(mask_bytes).hexdigest()[:16])


def max_rel_error(output: torch.Tensor, reference: torch.Tensor) -> float:
    """max |output - reference| / max |reference| (norm-wise, so zeros do not blow it up)."""
    out = output.detach().to("cpu", dtype=reference.dtype)
    if out.shape != reference.shape:
        return math.inf
    scale = float(reference.abs().max()) or 1.0
    return float((out - reference).abs().max()) / scale


def _base_row(layer: ConvLayer, pattern: Any, density: float | None, mask_hash: str | None,
              backend: str, threads: int, batch: int, device: str, model: str | None,
              requested_sparsity: float | None) -> dict[str, Any]:
    """A measurement row with its configuration filled in and no result yet."""
    return {
        "scope": "layer", "model": model, "layer": layer.name, "layer_kind": layer.kind,
        "backend": backend, "kernel": None, "device": device, "isa": None,
        "compile_flags": None, "kernel_source_hash": None, "pattern": pattern.name,
        "pattern_params": json.dumps(pattern.params, sort_keys=True),
        "requested_sparsity": requested_sparsity,
        "nominal_density": pattern.nominal_density, "actual_density": density,
        "threads": threads, "batch": batch, "in_channels": layer.in_channels,
        "out_channels": layer.out_channels, "height": layer.height, "width": layer.width,
        "kernel_h": layer.kernel_h, "kernel_w": layer.kernel_w, "stride": layer.stride,
        "padding": layer.padding, "flops_dense": layer.flops(batch),
        "flops_nonzero": None if density is None else layer.flops(batch, density),
        "warmup": None, "repeats": None, "median_s": None, "min_s": None, "p90_s": None,
        "p99_s": None, "stdev_s": None, "max_rel_error": None, "precision": None,
        "status": "error", "message": None,
        "checkpoint_key": None, "mask_hash": mask_hash,
    }


def _build_columns(backend: str) -> dict[str, str | None]:
    """compile_flags and kernel_source_hash of a backend's build, for the row."""
    info = BACKENDS[backend].build_info()
    flags = info.get("flags")
    return {"compile_flags": " ".join(flags) if isinstance(flags, list | tuple) else flags,
            "kernel_source_hash": info.get("source_hash")}


def verified_conv(case: LayerCase, backend: str, threads: int, device: str = "cpu",
                  ) -> tuple[PreparedConv, float]:
    """``case``'s weight prepared on ``backend`` and the max relative error of its output
    against the float64 reference (the caller decides what error is wrong)."""
    import torch

    layer = case.layer
    conv = BACKENDS[backend].prepare(case.weight, pattern=case.pattern, stride=layer.stride,
                                     padding=layer.padding, device=device)
    with torch.inference_mode(), pinned_threads(threads):
        error = max_rel_error(conv(case.x.to(device), threads=threads), case.reference)
    return conv, error


def bench_layer(layer: ConvLayer, pattern: Any, backend: str, threads: int, batch: int,
                budget: float, *, case: LayerCase | None = None, model: str | None = None,
                requested_sparsity: float | None = None, device: str = "cpu",
                seed: int = 0) -> dict[str, Any]:
    """Verify then time ``layer`` with ``pattern`` on ``backend``: one measurement row.

    ``case`` carries the masked weight, input and reference (a checkpoint's weights, or
    shared between backends); without it a random weight is masked. ``budget`` is the
    timing budget in seconds. Failures of the backend become ``status='error'`` rows and
    a result off by more than ``MAX_REL_ERROR`` a ``'wrong'`` row, neither with a time.
    Times are wall clock: a GPU backend's call must synchronise before it returns.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if threads < 1 or batch < 1 or budget <= 0:
        raise ValueError(f"threads={threads}, batch={batch}, budget={budget}: "
                         "all must be positive")
    import torch

    case = case or make_case(layer, pattern, batch, seed=seed)
    if case.layer != layer or case.x.shape[0] != batch:
        raise ValueError(f"case is for {case.layer.name} batch {case.x.shape[0]}, "
                         f"not {layer.name} batch {batch}")
    row = _base_row(layer, pattern, case.actual_density, case.mask_hash, backend, threads,
                    batch, device, model, requested_sparsity)
    ok, reason = BACKENDS[backend].availability()
    if not ok:
        row["message"] = reason
        return row
    try:
        conv, row["max_rel_error"] = verified_conv(case, backend, threads, device)
        row.update(kernel=conv.kernel, isa=conv.isa, precision=getattr(conv, "precision", "fp32"),
                   **_build_columns(backend), **what_ran(conv))
        tolerance = BACKENDS[backend].tolerance or MAX_REL_ERROR
        if not row["max_rel_error"] <= tolerance:  # NaN is wrong too
            row.update(status="wrong", message=f"max rel error {row['max_rel_error']:.3g} > "
                       f"{tolerance:g} against torch conv2d; not timed")
            return row
        x = case.x.to(device)
        with torch.inference_mode(), pinned_threads(threads):
            timing = measure(lambda: conv(x, threads=threads), budget_s=budget)
    except Exception as exc:  # a kernel that fails is a recorded result, not a crash
        row["message"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return row
    row.update(timing.as_row(), status="ok")
    return row


@dataclass(frozen=True)
class Level:
    """One swept pattern level: the pattern object and the sparsity that was asked for."""

    pattern: Any
    requested_sparsity: float

    @property
    def label(self) -> str:
        return self.pattern.describe()


def sweep_levels(pattern_names: Iterable[str], sparsities: Iterable[float]) -> list[Level]:
    """Each pattern at each sparsity, mapped to a reachable level and deduplicated."""
    import patterns

    levels: dict[tuple[str, str], Level] = {}
    for name in pattern_names:
        for sparsity in sparsities:
            p = patterns.nearest_level(name, sparsity, **SWEEP_PARAMS.get(name, {}))
            levels.setdefault((p.name, json.dumps(p.params, sort_keys=True)),
                              Level(p, sparsity))
    return list(levels.values())


def sweep(models: Iterable[str], levels: list[Level], threads: Iterable[int], batch: int,
          budget: float, *, layer_limit: int | None = None, seed: int = 0,
          ) -> Iterator[list[dict[str, Any]]]:
    """Rows for every prunable layer, one list per (model, layer, threads).

    Each list starts with the two dense baselines (torch, our C dense) followed by the C
    kernel at every level, all on the same dense random weight and input. A level whose
    pattern cannot take the layer's shape gives an 'error' row saying so.
    """
    import patterns

    dense = patterns.make("dense")
    jobs = [(backend, dense, 0.0) for backend, _ in BASELINES]
    jobs += [("c", level.pattern, level.requested_sparsity) for level in levels]
    for model in models:
        for layer in prunable_layers(model, layer_limit):
            yield from _layer_groups(model, layer, jobs, threads, batch, budget, seed)


def _layer_groups(model: str, layer: ConvLayer, jobs: list[tuple[str, Any, float]],
                  threads: Iterable[int], batch: int, budget: float, seed: int,
                  ) -> Iterator[list[dict[str, Any]]]:
    """One layer of ``sweep``: cases built lazily and shared across thread counts."""
    weight, x = random_weight(layer, seed), random_input(layer, batch, seed)
    cases: dict[int, LayerCase | str] = {}
    for n_threads in threads:
        group = []
        for backend, pattern, requested in jobs:
            if id(pattern) not in cases:
                try:
                    cases[id(pattern)] = make_case(layer, pattern, batch, weight=weight, x=x)
                except ValueError as exc:  # the pattern cannot take this shape
                    cases[id(pattern)] = str(exc)
            case = cases[id(pattern)]
            if isinstance(case, str):
                row = _base_row(layer, pattern, None, None, backend, n_threads, batch, "cpu",
                                model, requested)
                row["message"] = f"unsupported shape: {case}"
            else:
                row = bench_layer(layer, pattern, backend, n_threads, batch, budget, case=case,
                                  model=model, requested_sparsity=requested)
            group.append(row)
        yield group


def with_speedups(rows: list[dict[str, Any]], peak: Callable[[int], float]) -> pd.DataFrame:
    """Rows plus speedup over our dense kernel and torch's, GFLOP/s and fraction of peak.

    Speedups compare medians of the same (model, layer, threads, batch) from ``rows``;
    ``peak(threads)`` is the FMA-probe peak in GFLOP/s.
    """
    import pandas as pd

    df = pd.DataFrame(rows)
    if df.empty:
        return df
    key = ["model", "layer", "threads", "batch"]
    dense = df[(df.pattern == "dense") & (df.status == "ok")]
    for backend, label in BASELINES:
        base = dense[dense.backend == backend].set_index(key)["median_s"].rename(label)
        df = df.join(base, on=key)
        df[f"x_{label}"] = df[label] / df["median_s"]
        df = df.drop(columns=label)
    df["gflops"] = df["flops_nonzero"] / df["median_s"] / 1e9
    df["peak_fraction"] = df["gflops"] / df["threads"].map(peak)
    return df


def _geomean(values: pd.Series) -> float:
    values = values.dropna()
    return float(math.exp(values.map(math.log).mean())) if len(values) else math.nan


@functools.cache
def level_label(pattern: str, params_json: str) -> str:
    """A row's pattern level as ``Pattern.describe()`` writes it, e.g. ``nm(1:4)``."""
    import patterns

    return patterns.make(pattern, **json.loads(params_json)).describe()


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Per (pattern level, backend, threads): geomean speedups over our dense kernel and
    torch's, the fraction of layers faster than torch, and the median fraction of peak."""
    ok = df[df.status == "ok"].copy()
    ok["level"] = [level_label(p, q)
                   for p, q in zip(ok["pattern"], ok["pattern_params"], strict=True)]
    return (ok.groupby(["level", "backend", "threads"], sort=False)
            .agg(sparsity=("requested_sparsity", "first"), density=("actual_density", "mean"),
                 layers=("layer", "count"), x_c_dense=("x_c_dense", _geomean),
                 x_torch=("x_torch", _geomean),
                 faster_than_torch=("x_torch", lambda v: float((v > 1).mean())),
                 peak_fraction=("peak_fraction", "median"))
            .reset_index())


def dense_by_kind(df: pd.DataFrame) -> pd.DataFrame:
    """Our dense kernel against torch's per layer kind and threads (geomean of x_torch)."""
    ours = df[(df.status == "ok") & (df.backend == "c") & (df.pattern == "dense")]
    return (ours.groupby(["threads", "layer_kind"])["x_torch"]
            .agg(geomean_x_torch=_geomean, layers="count").reset_index())
