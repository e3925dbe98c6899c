"""The error measure every CUDA result is checked with before it is timed or stored."""

from __future__ import annotations

import torch


def max_rel_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want| (in float64): relative to the output's scale, so that
    outputs near zero do not turn rounding noise into huge element-wise ratios."""
    got, want = got.double(), want.double()
    scale = want.abs().max().clamp_min(torch.finfo(torch.float64).tiny)
    return float((got - want).abs().max() / scale)
