"""Sparsity patterns (masks), the model zoo, the data sets and the training recipes.

The pattern core lives here (see docs/PATTERNS.md): ``available()``, ``make(name, **params)``,
``nearest_level``, ``density`` and ``apply(model, pattern, policy)``. The models, data and
training sub-modules are imported explicitly (``from patterns import models``) so that
``import patterns`` stays light.
"""

from importlib import import_module

from patterns.base import Pattern
from patterns.levels import nearest_level
from patterns.masks import density
from patterns.policy import LayerPolicy, LayerRecord, PrunePlan, apply
from patterns.registry import available, make, register

PATTERN_MODULES = ("dense", "unstructured", "nm", "block", "cs", "filter")
"""One module per pattern; importing it registers the pattern. The order is ``available()``'s."""
for _module in PATTERN_MODULES:
    import_module(f"patterns.{_module}")

__all__ = [
    "LayerPolicy",
    "LayerRecord",
    "Pattern",
    "PrunePlan",
    "apply",
    "available",
    "density",
    "make",
    "nearest_level",
    "register",
]
