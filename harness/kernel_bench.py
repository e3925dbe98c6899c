"""Per-layer kernel benchmark: every prunable conv of a model, every backend, verified then timed.

``bench_layer`` masks a random weight with a pattern and hands the case to the one
verify-and-time path (``harness.verified.measure_case``): checked against a float64
``torch.nn.functional.conv2d`` reference, then timed; a wrong result gets
``status='wrong'`` and no timing. ``sweep`` runs it over models, layers,
patterns, sparsities and thread counts; ``with_speedups`` and ``summarise`` derive the
ratios against our dense kernel and torch's dense conv measured in the same run.
"""

from __future__ import annotations

import functools
import json
import math
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.layers import ConvLayer, zoo_prunable_layers
from harness.timing import TimingSettings
from harness.verified import LayerCase, layer_case, measure_case, unsupported_row

if TYPE_CHECKING:
    import pandas as pd
    import torch

DEFAULT_MODELS = ("resnet50", "vgg16_bn", "mobilenet_v2")
DEFAULT_PATTERNS = ("unstructured", "nm", "block", "cs", "filter")
DEFAULT_SPARSITIES = (0.5, 0.75, 0.875, 0.9375)
DEFAULT_THREADS = (1, 2)
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


def prunable_layers(model: str, limit: int | None = None) -> list[ConvLayer]:
    """The convs of zoo model ``model`` the layer policy prunes, the first ``limit`` if given."""
    layers = zoo_prunable_layers(model)
    return layers if limit is None else layers[:limit]


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
    """Mask ``weight`` (random if None) with ``pattern``: the layer's case (float64
    reference). ValueError when the pattern cannot take the layer's shape.
    """
    reason = pattern.check_shape(layer.weight_shape)
    if reason:
        raise ValueError(f"{layer.name}: {pattern.describe()} cannot take "
                         f"{layer.weight_shape}: {reason}")
    dense = random_weight(layer, seed) if weight is None else weight.detach().float().cpu()
    x = random_input(layer, batch, seed) if x is None else x
    return layer_case(layer, pattern, dense * pattern.mask(dense), x)


def bench_layer(layer: ConvLayer, pattern: Any, backend: str, threads: int, batch: int,
                budget: float, *, case: LayerCase | None = None, model: str | None = None,
                requested_sparsity: float | None = None, device: str = "cpu",
                seed: int = 0) -> dict[str, Any]:
    """Verify then time ``layer`` with ``pattern`` on ``backend``: one measurement row
    (``harness.verified.measure_case``, with ``budget`` seconds of timing).

    ``case`` carries the masked weight, input and reference (a checkpoint's weights, or
    shared between backends); without it a random weight is masked.
    """
    if budget <= 0 or batch < 1:
        raise ValueError(f"batch={batch}, budget={budget}: both must be positive")
    case = case or make_case(layer, pattern, batch, seed=seed)
    if case.layer != layer or case.x.shape[0] != batch:
        raise ValueError(f"case is for {case.layer.name} batch {case.x.shape[0]}, "
                         f"not {layer.name} batch {batch}")
    return measure_case(case, backend, threads=threads, timing=TimingSettings(budget_s=budget),
                        device=device, columns={"model": model,
                                                "requested_sparsity": requested_sparsity}).row


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
                row = unsupported_row(layer, pattern, batch, backend, n_threads, case,
                                      {"model": model, "requested_sparsity": requested})
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


def over_one_thread(df: pd.DataFrame) -> pd.Series:
    """Each row's speedup over the same kernel (backend, pattern level) on the same layer and
    batch at 1 thread, from ``df`` (NaN where no 1-thread row was timed).  The two medians
    are taken seconds apart in one run, so on a shared CPU the ratio also carries the
    machine's drift between them."""
    key = ["model", "layer", "batch", "backend", "pattern", "pattern_params"]
    one = df[(df.threads == 1) & (df.status == "ok")].set_index(key)["median_s"]
    base = df.join(one.rename("one_thread_s"), on=key)["one_thread_s"]
    return base / df["median_s"]


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Per (pattern level, backend, threads): geomean speedups over our dense kernel and
    torch's and over the same kernel at 1 thread, the fraction of layers faster than
    torch, and the median fraction of peak."""
    ok = df[df.status == "ok"].copy()
    ok["level"] = [level_label(p, q)
                   for p, q in zip(ok["pattern"], ok["pattern_params"], strict=True)]
    ok["x_1_thread"] = over_one_thread(ok)
    return (ok.groupby(["level", "backend", "threads"], sort=False)
            .agg(sparsity=("requested_sparsity", "first"), density=("actual_density", "mean"),
                 layers=("layer", "count"), x_c_dense=("x_c_dense", _geomean),
                 x_torch=("x_torch", _geomean), x_1_thread=("x_1_thread", _geomean),
                 faster_than_torch=("x_torch", lambda v: float((v > 1).mean())),
                 peak_fraction=("peak_fraction", "median"))
            .reset_index())


def dense_by_kind(df: pd.DataFrame) -> pd.DataFrame:
    """Our dense kernel against torch's per layer kind and threads (geomean of x_torch)."""
    ours = df[(df.status == "ok") & (df.backend == "c") & (df.pattern == "dense")]
    return (ours.groupby(["threads", "layer_kind"])["x_torch"]
            .agg(geomean_x_torch=_geomean, layers="count").reset_index())
