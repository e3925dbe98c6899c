"""``nm``: N:M fine-grained structured sparsity along the input channels (SR-STE).

At every fixed ``(co, kh, kw)``, each group of ``m`` consecutive input channels
``[g·m, (g+1)·m)`` keeps exactly its ``n`` largest ``|w|`` (ties to the lower channel).
Requires ``Cin % m == 0``. Discrete levels: ``1 - n/m`` (see ``at_sparsity``).
"""

from __future__ import annotations

from typing import Any

import torch

from patterns.base import Pattern, int_param, sparsity_param
from patterns.masks import channel_groups, keep_largest, ungroup_channels
from patterns.registry import register

LADDER = ((2, 4), (1, 4), (1, 8), (1, 16))
"""Levels used when neither n nor m is fixed: 50 %, 75 %, 87.5 %, 93.75 %
(docs/PATTERNS.md §levels)."""


@register
class NM(Pattern):
    """Keep ``n`` of every ``m`` consecutive input channels."""

    name = "nm"
    defaults: dict[str, Any] = {"n": 2, "m": 4}

    def _canonical(self, params: dict[str, Any]) -> dict[str, Any]:
        n = int_param(self.name, "n", params["n"], 1)
        m = int_param(self.name, "m", params["m"], 2)
        if n >= m:
            raise ValueError(f"nm: needs 0 < n < m, got n={n}, m={m}; e.g. n=2, m=4")
        return {"n": n, "m": m}

    @classmethod
    def at_sparsity(cls, sparsity: float, **fixed: Any) -> Pattern:
        """Nearest ``1 - n/m``: n in 1..m-1 for a fixed m; m in {2n,4n,8n,16n} for a fixed n;
        else the ladder 2:4, 1:4, 1:8, 1:16. Equidistant levels resolve to the denser one."""
        sparsity = sparsity_param(cls.name, sparsity)
        n, m = fixed.pop("n", None), fixed.pop("m", None)
        if n is not None and m is not None:
            candidates = [(n, m)]
        elif m is not None:
            m = int_param(cls.name, "m", m, 2)
            candidates = [(keep, m) for keep in range(m - 1, 0, -1)]
        elif n is not None:
            n = int_param(cls.name, "n", n, 1)
            candidates = [(n, n * factor) for factor in (2, 4, 8, 16)]
        else:
            candidates = list(LADDER)
        best = min(candidates, key=lambda nm: abs(1.0 - nm[0] / nm[1] - sparsity))
        return cls(n=best[0], m=best[1], **fixed)

    @property
    def nominal_density(self) -> float:
        return self._params["n"] / self._params["m"]

    def describe(self) -> str:
        return f"nm({self._params['n']}:{self._params['m']})"

    def _check_conv_shape(self, shape: tuple[int, int, int, int]) -> str | None:
        cin, m = shape[1], self._params["m"]
        if cin % m:
            return (
                f"{self.describe()}: Cin={cin} is not a multiple of m={m}; "
                f"use an m that divides {cin} or keep this layer dense"
            )
        return None

    def _mask_conv(self, weight: torch.Tensor) -> torch.Tensor:
        groups = channel_groups(weight.abs(), self._params["m"])
        return ungroup_channels(keep_largest(groups, self._params["n"]))

    def _validate_conv(self, mask: torch.Tensor) -> None:
        kept = channel_groups(mask, self._params["m"]).sum(dim=-1)
        wrong = int((kept != self._params["n"]).sum())
        if wrong:
            self._broken(
                f"{wrong} groups of {self._params['m']} input channels do not keep exactly "
                f"{self._params['n']} weights"
            )
