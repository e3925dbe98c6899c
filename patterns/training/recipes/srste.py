"""``srste``: N:M from scratch with the sparse-refined straight-through estimator.

Dense weights are kept; every forward recomputes the N:M mask from ``|W|`` and computes
with ``W * M``; the backward passes the gradient straight through and adds
``decay * (1 - M) * W`` (``decay`` = lambda_w, 2e-4 by default). See ``ste.py``.
"""

from __future__ import annotations

from typing import Any

from patterns.training.recipe import DynamicMaskRecipe, register_recipe, require_pattern
from patterns.training.ste import DEFAULT_DECAY


@register_recipe("srste")
class SRSTE(DynamicMaskRecipe):
    summary = "N:M from scratch: mask from |W| every forward, SR-STE decay on pruned weights"
    defaults = {"decay": DEFAULT_DECAY}

    def check_pattern(self, pattern: Any) -> None:
        require_pattern(
            "srste", pattern, ("nm",),
            "it trains N:M (--pattern nm); use --recipe gmp or oneshot for other patterns",
        )
