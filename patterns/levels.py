"""Map a requested sparsity to the nearest level a pattern can reach (docs/PATTERNS.md §levels).

N:M and CS only reach ``1 - n/m`` and ``1 - 1/k``; continuous patterns (unstructured,
block, filter) take the sparsity as it is; dense has one level. Each pattern class owns its
ladder in ``at_sparsity``; this module only dispatches by name. The returned pattern's
``params`` / ``nominal_density`` are the actual level to record next to the requested one.
"""

from __future__ import annotations

from typing import Any

from patterns.base import Pattern
from patterns.registry import pattern_class

__all__ = ["nearest_level"]


def nearest_level(name: str, sparsity: float, /, **fixed: Any) -> Pattern:
    """Pattern ``name`` at the reachable level nearest ``sparsity``; ``fixed`` pins params.

    Examples: ``nearest_level('nm', 0.75)`` -> 1:4, ``nearest_level('nm', 0.75, m=8)`` -> 2:8,
    ``nearest_level('cs', 0.9)`` -> k=8, ``nearest_level('block', 0.6, n=16)`` -> 60 %.
    """
    if "sparsity" in fixed:
        raise ValueError(
            "nearest_level: give the requested sparsity as the second argument, "
            "not also among the fixed parameters"
        )
    return pattern_class(name).at_sparsity(sparsity, **fixed)
