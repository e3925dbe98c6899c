"""``unstructured``: magnitude pruning at any position, per layer or globally
(docs/PATTERNS.md §unstructured).

``scope='layer'`` keeps the ``round((1-s)·numel)`` largest ``|w|`` of each layer.
``scope='global'`` ranks all layers passed to ``mask_many`` together (one threshold); ties
go to the earlier layer (in the mapping's order), then the lower flat index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from patterns.base import REQUIRED, Pattern, choice_param, percent, sparsity_param
from patterns.masks import count, keep_largest
from patterns.registry import register

SCOPES = ("layer", "global")


@register
class Unstructured(Pattern):
    """Keep the largest-magnitude weights, anywhere in the tensor."""

    name = "unstructured"
    defaults: dict[str, Any] = {"sparsity": REQUIRED, "scope": "layer"}

    def _canonical(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "sparsity": sparsity_param(self.name, params["sparsity"]),
            "scope": choice_param(self.name, "scope", params["scope"], SCOPES),
        }

    @property
    def nominal_density(self) -> float:
        return 1.0 - self._params["sparsity"]

    def describe(self) -> str:
        return f"unstructured({percent(self._params['sparsity'])},{self._params['scope']})"

    def _keep(self, numel: int) -> int:
        return count((1.0 - self._params["sparsity"]) * numel)

    def _mask_conv(self, weight: torch.Tensor) -> torch.Tensor:
        score = weight.abs().flatten()
        return keep_largest(score, self._keep(score.numel())).view(weight.shape)

    def mask_many(self, weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per layer for ``scope='layer'``; one threshold over all layers for ``'global'``."""
        if self._params["scope"] == "layer" or not weights:
            return super().mask_many(weights)
        for weight in weights.values():
            self._require_weight(weight)
        scores = torch.cat([w.detach().abs().flatten() for w in weights.values()])
        kept = keep_largest(scores, self._keep(scores.numel()))
        sizes = [w.numel() for w in weights.values()]
        return {
            name: part.view(weight.shape)
            for (name, weight), part in zip(weights.items(), kept.split(sizes), strict=True)
        }

    def _validate_conv(self, mask: torch.Tensor) -> None:
        if self._params["scope"] == "global":
            return  # a global threshold leaves any per-layer count; nothing to check per layer
        kept, expected = int(mask.sum()), self._keep(mask.numel())
        if kept != expected:
            self._broken(f"{kept} of {mask.numel()} weights kept, expected exactly {expected}")
