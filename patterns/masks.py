"""Tensor helpers every pattern shares: deterministic top-k masks, counts and density.

Why a helper: PATTERNS.md requires masks to be pure functions of the weights, with ties
broken by the lower index. ``torch.topk`` does not promise which of equal values it keeps,
and a full stable sort is O(n log n); ``keep_largest`` uses a linear-time selection
(``torch.kthvalue``) and breaks ties explicitly with a cumulative count.
"""

from __future__ import annotations

import math

import torch

__all__ = ["channel_groups", "count", "density", "keep_largest", "ungroup_channels"]


def count(x: float) -> int:
    """Round a non-negative weight/block/channel count half up (PATTERNS.md's ``round``).

    Python's ``round`` rounds half to even (``round(2.5) == 2``); a count of weights should
    not depend on the parity of its neighbour, so this rounds half up. The inner
    ``round(x, 9)`` absorbs float noise such as ``(1 - 0.7) * 10 == 3.0000000000000004``.
    """
    return math.floor(round(x, 9) + 0.5)


def keep_largest(score: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask keeping the ``k`` largest values along the last dim of ``score``.

    Ties at the threshold go to the lower index; every row keeps exactly ``k`` (clamped).
    Vectorised: one ``kthvalue`` per row plus a cumulative sum; no Python loop over rows.
    """
    size = score.shape[-1]
    if k <= 0:
        return torch.zeros_like(score, dtype=torch.bool)
    if k >= size:
        return torch.ones_like(score, dtype=torch.bool)
    threshold = torch.kthvalue(score, size - k + 1, dim=-1, keepdim=True).values
    above = score > threshold
    at = score == threshold
    room = k - above.sum(dim=-1, keepdim=True)
    return above | (at & (at.cumsum(dim=-1) <= room))


def density(mask: torch.Tensor) -> float:
    """Fraction of kept (True / non-zero) entries of a mask; 1.0 for an empty mask."""
    numel = mask.numel()
    if numel == 0:
        return 1.0
    return int(torch.count_nonzero(mask)) / numel


def channel_groups(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """``(Cout, Cin, Kh, Kw)`` -> ``(Cout, Kh, Kw, Cin/size, size)``.

    Groups of ``size`` consecutive input channels at fixed ``(co, kh, kw)``: the NHWC
    reduction order PATTERNS.md defines N:M and CS on.
    """
    cout, cin, kh, kw = tensor.shape
    return tensor.permute(0, 2, 3, 1).reshape(cout, kh, kw, cin // size, size)


def ungroup_channels(grouped: torch.Tensor) -> torch.Tensor:
    """Inverse of ``channel_groups``: ``(Cout, Kh, Kw, G, size)`` -> ``(Cout, Cin, Kh, Kw)``."""
    cout, kh, kw = grouped.shape[:3]
    return grouped.reshape(cout, kh, kw, -1).permute(0, 3, 1, 2)
