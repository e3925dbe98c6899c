"""Tensor helpers every pattern shares: deterministic top-k masks, counts and density.

Why a helper: docs/PATTERNS.md §conventions requires masks to be pure functions of the
weights, with ties broken by the lower index. ``torch.topk`` does not promise which of equal
values it keeps, and a full stable sort is O(n log n); ``keep_largest`` uses a linear-time
selection (``torch.kthvalue``) and breaks ties explicitly with a cumulative count.
"""

from __future__ import annotations

import math

import torch

__all__ = ["channel_groups", "count", "density", "keep_largest", "ungroup_channels"]


def count(x: float) -> int:
    """Round a non-negative weight/block/channel count half up (docs/PATTERNS.md §conventions).

    Python's ``round`` rounds half to even (``round(2.5) == 2``); a count of weights should
    not depend on the parity of its neighbour, so this rounds half up. The inner
    ``round(x, 9)`` absorbs float noise such as ``(1 - 0.7) * 10 == 3.0000000000000004``.
    """
    return math.floor(round(x, 9) + 0.5)


def keep_largest(score: torch.Tensor, k: int, dim: int = -1) -> torch.Tensor:
    """Boolean mask keeping the ``k`` largest values of ``score`` along ``dim``.

    Ties at the threshold go to the lower index; every slice keeps exactly ``k`` (clamped to
    its size). Vectorised: one selection per slice (``amax`` for k = 1, else ``kthvalue``)
    plus a cumulative count of the ties; no Python loop over slices.
    """
    size = score.shape[dim]
    if k <= 0:
        return torch.zeros_like(score, dtype=torch.bool)
    if k >= size:
        return torch.ones_like(score, dtype=torch.bool)
    rows = score.movedim(dim, -1).contiguous()  # strided reductions are several times slower
    if k == 1:
        threshold = rows.amax(dim=-1, keepdim=True)
    else:
        threshold = torch.kthvalue(rows, size - k + 1, dim=-1, keepdim=True).values
    above = rows > threshold
    at = rows == threshold
    room = k - above.sum(dim=-1, keepdim=True)
    return (above | (at & (at.cumsum(dim=-1) <= room))).movedim(-1, dim)


def density(mask: torch.Tensor) -> float:
    """Fraction of kept (True / non-zero) entries of a mask; 1.0 for an empty mask."""
    numel = mask.numel()
    if numel == 0:
        return 1.0
    return int(torch.count_nonzero(mask)) / numel


def channel_groups(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """``(Cout, Cin, Kh, Kw)`` -> ``(Cout, Kh, Kw, Cin/size, size)``.

    Groups of ``size`` consecutive input channels at fixed ``(co, kh, kw)``: the NHWC
    reduction order docs/PATTERNS.md §conventions defines N:M and CS on.
    """
    cout, cin, kh, kw = tensor.shape
    return tensor.permute(0, 2, 3, 1).reshape(cout, kh, kw, cin // size, size)


def ungroup_channels(grouped: torch.Tensor) -> torch.Tensor:
    """Inverse of ``channel_groups``: ``(Cout, Kh, Kw, G, size)`` -> ``(Cout, Cin, Kh, Kw)``."""
    cout, kh, kw = grouped.shape[:3]
    return grouped.reshape(cout, kh, kw, -1).permute(0, 3, 1, 2)
