"""asv benchmarks: the C kernels and torch's dense conv on representative layers.

Layers: a ResNet-50 1x1 and 3x3 and a MobileNetV2 1x1 at ImageNet shapes, batch 1
(``harness.kernel_bench.REPRESENTATIVE_LAYERS``). Every setup checks the kernel's output
against the float64 ``torch.nn.functional.conv2d`` reference with the one verify-and-time
path's check (``harness.verified``); a wrong kernel fails its benchmark instead of
recording a time. ``track_`` benchmarks measure the sparse kernel and its baseline with
``harness.verified.measure_case`` in the same call and return the ratio of medians, so a
regression in the speedup shows even on a noisy machine.
"""

from __future__ import annotations

from harness.kernel_bench import (
    DEFAULT_PATTERNS,
    DEFAULT_SPARSITIES,
    DEFAULT_THREADS,
    REPRESENTATIVE_LAYERS,
    make_case,
    sweep_levels,
)
from harness.timing import TimingSettings
from harness.verified import check, measure_case, tolerance

LAYERS = list(REPRESENTATIVE_LAYERS)
PATTERNS = list(DEFAULT_PATTERNS)
SPARSITIES = list(DEFAULT_SPARSITIES)
THREADS = list(DEFAULT_THREADS)
RATIO_TIMING = TimingSettings(budget_s=0.2)  # per side of a track_ ratio


def case_for(layer_key: str, pattern_name: str, sparsity: float):
    """The layer's case at a pattern level (float64 reference).

    NotImplementedError (asv: skip) when the pattern cannot take the layer's shape.
    """
    layer = REPRESENTATIVE_LAYERS[layer_key]
    pattern = sweep_levels([pattern_name], [sparsity])[0].pattern
    try:
        return make_case(layer, pattern, batch=1)
    except ValueError as exc:
        raise NotImplementedError(str(exc)) from None


def checked(layer_key: str, pattern_name: str, sparsity: float, backend: str, threads: int):
    """(run, input) for a layer at a pattern level, verified against its reference."""
    case = case_for(layer_key, pattern_name, sparsity)
    result = check(case, backend, threads)
    limit = tolerance(case, backend)
    if not result.error <= limit:
        raise AssertionError(f"{backend} {case.pattern.describe()} on {layer_key}: max rel "
                             f"error {result.error:.3g} > {limit:g}; not timed")
    return result.prepared.run, result.x


class _Bench:
    """Shared settings: one process per benchmark, a short warm-up, bounded repeats."""

    processes = 1
    repeat = (3, 10, 2.0)  # (min repeats, max repeats, max seconds)
    warmup_time = 0.05
    timeout = 300  # the first benchmark may compile the C kernels (cached afterwards)

    def _prepare(self, layer, pattern, sparsity, backend, threads):
        """Checked conv and input; torch's thread count pinned (each benchmark is its own
        process, so nothing needs restoring)."""
        import torch

        self.run, self.x = checked(layer, pattern, sparsity, backend, threads)
        torch.set_num_threads(threads)


class TimeSparse(_Bench):
    """Median time of each C kernel (pattern x sparsity x threads) on each layer."""

    params = (LAYERS, PATTERNS, SPARSITIES, THREADS)
    param_names = ["layer", "pattern", "sparsity", "threads"]

    def setup(self, layer, pattern, sparsity, threads):
        self._prepare(layer, pattern, sparsity, "c", threads)

    def time_conv(self, layer, pattern, sparsity, threads):
        self.run(self.x)


class TimeDense(_Bench):
    """Median time of the dense baselines: our C dense kernel and torch's conv (oneDNN)."""

    params = (LAYERS, ["c", "torch"], THREADS)
    param_names = ["layer", "backend", "threads"]

    def setup(self, layer, backend, threads):
        self._prepare(layer, "dense", 0.0, backend, threads)

    def time_conv(self, layer, backend, threads):
        self.run(self.x)


class TrackSpeedup(_Bench):
    """Speedup of each C kernel over a dense baseline, both timed in the same call."""

    params = (LAYERS, PATTERNS, SPARSITIES, THREADS)
    param_names = ["layer", "pattern", "sparsity", "threads"]
    unit = "ratio"

    def setup(self, layer, pattern, sparsity, threads):
        self.cases = {"sparse": case_for(layer, pattern, sparsity),
                      "dense": case_for(layer, "dense", 0.0)}

    def _median_s(self, case, backend: str, threads: int) -> float:
        measured = measure_case(case, backend, threads=threads, timing=RATIO_TIMING)
        if measured.status != "ok":
            raise AssertionError(f"{backend} on {case.layer.name}: {measured.row['message']}")
        return measured.row["median_s"]

    def _ratio(self, baseline: str, threads: int) -> float:
        return (self._median_s(self.cases["dense"], baseline, threads)
                / self._median_s(self.cases["sparse"], "c", threads))

    def track_speedup_over_c_dense(self, layer, pattern, sparsity, threads):
        return self._ratio("c", threads)

    def track_speedup_over_torch(self, layer, pattern, sparsity, threads):
        return self._ratio("torch", threads)
