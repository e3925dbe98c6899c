"""``dense``: no pruning; the accuracy and latency reference (docs/PATTERNS.md §dense)."""

from __future__ import annotations

from typing import Any

import torch

from patterns.base import Pattern
from patterns.registry import register


@register
class Dense(Pattern):
    """Keeps every weight; ``patterns.apply`` records no mask for it."""

    name = "dense"
    defaults: dict[str, Any] = {}
    prunes = False

    def _canonical(self, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    @classmethod
    def at_sparsity(cls, sparsity: float, **fixed: Any) -> Pattern:
        """Dense has one level (sparsity 0): any requested sparsity maps to it."""
        return cls(**fixed)

    @property
    def nominal_density(self) -> float:
        return 1.0

    def describe(self) -> str:
        return "dense"

    def _mask_conv(self, weight: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(weight, dtype=torch.bool)

    def _validate_conv(self, mask: torch.Tensor) -> None:
        if not bool(mask.all()):
            self._broken(f"{int((~mask).sum())} weights are pruned; dense keeps all")
