"""``filter``: channel pruning, the coarse structured baseline (docs/PATTERNS.md §filter).

Removes the ``round(s·Cout)`` output channels with the lowest L1 norm (ties: the higher
channel index goes first, i.e. the lower index is kept). The mask zeroes whole output
channels, so the kernel is a smaller dense convolution.
"""

from __future__ import annotations

from typing import Any

import torch

from patterns.base import REQUIRED, Pattern, percent, sparsity_param
from patterns.masks import count, keep_largest
from patterns.registry import register


@register
class Filter(Pattern):
    """Keep the output channels (filters) with the largest L1 norm."""

    name = "filter"
    defaults: dict[str, Any] = {"sparsity": REQUIRED}

    def _canonical(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"sparsity": sparsity_param(self.name, params["sparsity"])}

    @property
    def nominal_density(self) -> float:
        return 1.0 - self._params["sparsity"]

    def describe(self) -> str:
        return f"filter({percent(self._params['sparsity'])})"

    def _keep(self, cout: int) -> int:
        return cout - count(self._params["sparsity"] * cout)

    def _mask_conv(self, weight: torch.Tensor) -> torch.Tensor:
        score = weight.abs().sum(dim=(1, 2, 3))
        kept = keep_largest(score, self._keep(weight.shape[0]))
        return kept.view(-1, 1, 1, 1).expand(weight.shape)

    def _validate_conv(self, mask: torch.Tensor) -> None:
        channels = mask.flatten(1)
        whole = channels.all(dim=1)
        partial = int((channels.any(dim=1) & ~whole).sum())
        if partial:
            self._broken(f"{partial} output channels are partly kept; filters go whole")
        kept, expected = int(whole.sum()), self._keep(mask.shape[0])
        if kept != expected:
            self._broken(f"{kept} output channels kept, expected exactly {expected}")
