"""Whole-model latency benchmark: every zoo model at its own input shape, each pattern
level, every backend (our kernels and the dense engines), verified then timed.

``bench_model`` is the unit: one model case on one backend through the one
verify-and-time path (``harness.verified.measure_case``): checked against a float64 torch
forward pass of the same masked weights, then timed, giving one measurement row (median,
p90, p99). ``sweep`` runs it over models x levels x threads x backends and
``with_speedups`` adds, per (model, threads, batch), the speedup over eager torch and over
the fastest fp32 dense engine of the same run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from harness.backends import BACKENDS
from harness.kernel_bench import Level
from harness.timing import TimingSettings
from harness.verified import ModelCase, measure_case, model_case

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_MODELS = ("resnet50", "vgg16_bn", "mobilenet_v2")
DEFAULT_PATTERNS = ("dense", "unstructured", "block", "cs")
DEFAULT_SPARSITIES = (0.75, 0.9)
DEFAULT_THREADS = (1, 2)
EAGER = "torch"  # the eager-torch baseline backend
MIN_REPEATS = 20  # timed calls at least, so p90 / p99 rest on more than a handful


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
    return model_case(name, model, dict.fromkeys(plan.masks, pattern), pattern,
                      level.requested_sparsity if level else 0.0, x)


def bench_model(case: ModelCase, backend: str, threads: int, budget: float, *,
                min_repeats: int = MIN_REPEATS) -> dict[str, Any]:
    """Verify then time ``case`` on ``backend`` with ``threads``: one measurement row
    (``harness.verified.measure_case``, ``budget`` seconds and ``min_repeats`` calls at
    least, so p90 / p99 rest on more than a handful)."""
    settings = TimingSettings(min_repeats=min_repeats, max_repeats=max(1000, min_repeats),
                              budget_s=budget)
    return measure_case(case, backend, threads=threads, timing=settings).row


def runs_on(backend: str, level: Level | None) -> bool:
    """A dense-only backend (eager torch) is timed on the dense model only (``level``
    None): on masked weights it costs what dense costs. Engines and our kernels run every
    level."""
    spec = BACKENDS[backend]
    return level is None or spec.exploits_sparsity or spec.times_masked


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
                             for backend in backends if runs_on(backend, level))
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
