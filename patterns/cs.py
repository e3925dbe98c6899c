"""``cs``: complementary sparsity — this project's formalisation (docs/PATTERNS.md §cs).

At fixed ``(co, kh, kw)`` the input channels are cut into chunks of ``k·d`` consecutive
channels. Inside a chunk starting at ``c0``, for each offset ``j ∈ [0, d)`` the ``k``
channels ``c0 + j + t·d`` (``t = 0 … k-1``) form a complementary group, and exactly one of
them is kept: the largest ``|w|``, ties to the lower ``t``. Density is exactly ``1/k``.
``d`` defaults to ``Cin / k`` (one chunk), resolved per layer by ``distance(cin)``.
"""

from __future__ import annotations

from typing import Any

import torch

from patterns.base import Pattern, int_param, sparsity_param
from patterns.masks import channel_groups, keep_largest, ungroup_channels
from patterns.registry import register

LADDER = (2, 4, 8, 16)
"""Group sizes ``k`` a requested sparsity maps to: 50 %, 75 %, 87.5 %, 93.75 %."""


@register
class CS(Pattern):
    """Keep exactly one weight of every ``k`` weights spaced ``d`` input channels apart."""

    name = "cs"
    defaults: dict[str, Any] = {"k": 4, "d": None}

    def _canonical(self, params: dict[str, Any]) -> dict[str, Any]:
        d = params["d"]
        return {
            "k": int_param(self.name, "k", params["k"], 2),
            "d": None if d is None else int_param(self.name, "d", d, 1),
        }

    @classmethod
    def at_sparsity(cls, sparsity: float, **fixed: Any) -> Pattern:
        """Nearest ``1 - 1/k`` over k in 2, 4, 8, 16 (equidistant: the denser); ``d`` kept."""
        sparsity = sparsity_param(cls.name, sparsity)
        if "k" in fixed:
            return cls(**fixed)
        k = min(LADDER, key=lambda k: abs(1.0 - 1.0 / k - sparsity))
        return cls(k=k, **fixed)

    @property
    def nominal_density(self) -> float:
        return 1.0 / self._params["k"]

    def describe(self) -> str:
        d = self._params["d"]
        return f"cs(k={self._params['k']},d={'Cin/k' if d is None else d})"

    def distance(self, cin: int) -> int:
        """The distance ``d`` used for a layer with ``cin`` input channels."""
        reason = self._cin_reason(cin)
        if reason is not None:
            raise ValueError(reason)
        return self._params["d"] or cin // self._params["k"]

    def _cin_reason(self, cin: int) -> str | None:
        k, d = self._params["k"], self._params["d"]
        if d is None and cin % k:
            return (
                f"{self.describe()}: Cin={cin} is not a multiple of k={k} "
                f"(default d = Cin/k); use a k that divides {cin} or keep this layer dense"
            )
        if d is not None and cin % (k * d):
            return (
                f"{self.describe()}: Cin={cin} is not a multiple of k*d={k * d}; "
                f"use k, d with k*d dividing {cin} or keep this layer dense"
            )
        return None

    def _check_conv_shape(self, shape: tuple[int, int, int, int]) -> str | None:
        return self._cin_reason(shape[1])

    def _groups(self, tensor: torch.Tensor) -> torch.Tensor:
        """``(Cout, Cin, Kh, Kw)`` -> ``(Cout, Kh, Kw, chunks, k, d)``; groups run along k."""
        k, d = self._params["k"], self.distance(tensor.shape[1])
        return channel_groups(tensor, k * d).unflatten(-1, (k, d))

    def _mask_conv(self, weight: torch.Tensor) -> torch.Tensor:
        kept = keep_largest(self._groups(weight.abs()), 1, dim=-2)  # one per group along t
        return ungroup_channels(kept.flatten(-2))

    def _validate_conv(self, mask: torch.Tensor) -> None:
        kept = self._groups(mask).sum(dim=-2)
        wrong = int((kept != 1).sum())
        if wrong:
            self._broken(f"{wrong} complementary groups do not keep exactly one weight")
