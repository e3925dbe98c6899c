"""asv benchmarks: the C kernels and torch's dense conv on representative layers.

Layers: a ResNet-50 1x1 and 3x3 and a MobileNetV2 1x1 at ImageNet shapes, batch 1
(``harness.kernel_bench.REPRESENTATIVE_LAYERS``). Every setup checks the kernel's output
against ``torch.nn.functional.conv2d`` first; a wrong kernel fails its benchmark instead of
recording a time. ``track_`` benchmarks time the sparse kernel and its baseline in the same
call and return the ratio, so a regression in the speedup shows even on a noisy machine.
"""

from __future__ import annotations

from harness.kernel_bench import (
    DEFAULT_PATTERNS,
    DEFAULT_SPARSITIES,
    DEFAULT_THREADS,
    MAX_REL_ERROR,
    REPRESENTATIVE_LAYERS,
    make_case,
    sweep_levels,
    verified_conv,
)
from harness.timing import measure

LAYERS = list(REPRESENTATIVE_LAYERS)
PATTERNS = list(DEFAULT_PATTERNS)
SPARSITIES = list(DEFAULT_SPARSITIES)
THREADS = list(DEFAULT_THREADS)
RATIO_BUDGET_S = 0.2  # per side of a track_ ratio


def checked(layer_key: str, pattern_name: str, sparsity: float, backend: str, threads: int):
    """(prepared conv, input) for a layer at a pattern level, verified against torch.

    NotImplementedError (asv: skip) when the pattern cannot take the layer's shape.
    """
    layer = REPRESENTATIVE_LAYERS[layer_key]
    pattern = sweep_levels([pattern_name], [sparsity])[0].pattern
    try:
        case = make_case(layer, pattern, batch=1)
    except ValueError as exc:
        raise NotImplementedError(str(exc)) from None
    conv, error = verified_conv(case, backend, threads)
    if not error <= MAX_REL_ERROR:
        raise AssertionError(f"{backend} {pattern.describe()} on {layer_key}: max rel error "
                             f"{error:.3g} > {MAX_REL_ERROR:g}; not timed")
    return conv, case.x


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

        self.conv, self.x = checked(layer, pattern, sparsity, backend, threads)
        torch.set_num_threads(threads)


class TimeSparse(_Bench):
    """Median time of each C kernel (pattern x sparsity x threads) on each layer."""

    params = (LAYERS, PATTERNS, SPARSITIES, THREADS)
    param_names = ["layer", "pattern", "sparsity", "threads"]

    def setup(self, layer, pattern, sparsity, threads):
        self._prepare(layer, pattern, sparsity, "c", threads)

    def time_conv(self, layer, pattern, sparsity, threads):
        self.conv(self.x, threads=threads)


class TimeDense(_Bench):
    """Median time of the dense baselines: our C dense kernel and torch's conv (oneDNN)."""

    params = (LAYERS, ["c", "torch"], THREADS)
    param_names = ["layer", "backend", "threads"]

    def setup(self, layer, backend, threads):
        self._prepare(layer, "dense", 0.0, backend, threads)

    def time_conv(self, layer, backend, threads):
        self.conv(self.x, threads=threads)


class TrackSpeedup(_Bench):
    """Speedup of each C kernel over a dense baseline, both timed in the same call."""

    params = (LAYERS, PATTERNS, SPARSITIES, THREADS)
    param_names = ["layer", "pattern", "sparsity", "threads"]
    unit = "ratio"

    def setup(self, layer, pattern, sparsity, threads):
        self._prepare(layer, pattern, sparsity, "c", threads)
        self.baselines = {backend: checked(layer, "dense", 0.0, backend, threads)[0]
                          for backend in ("c", "torch")}

    def _ratio(self, baseline: str, threads: int) -> float:
        base, sparse, x = self.baselines[baseline], self.conv, self.x
        dense_s = measure(lambda: base(x, threads=threads), budget_s=RATIO_BUDGET_S).median_s
        sparse_s = measure(lambda: sparse(x, threads=threads), budget_s=RATIO_BUDGET_S).median_s
        return dense_s / sparse_s

    def track_speedup_over_c_dense(self, layer, pattern, sparsity, threads):
        return self._ratio("c", threads)

    def track_speedup_over_torch(self, layer, pattern, sparsity, threads):
        return self._ratio("torch", threads)
