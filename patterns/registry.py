"""Name -> pattern class registry: ``@register`` on each class, ``available()``, ``make()``.

Patterns register themselves when their module is imported (``patterns/__init__.py``
imports them in the canonical order), so callers never branch on pattern names.
"""

from __future__ import annotations

from typing import Any, TypeVar

from patterns.base import Pattern
from sparsebench.registry import Registry

__all__ = ["PATTERNS", "available", "make", "pattern_class", "register"]

PATTERNS: Registry[str, type[Pattern]] = Registry("pattern")

P = TypeVar("P", bound=type[Pattern])


def register(cls: P) -> P:
    """Class decorator: make ``cls`` reachable as ``patterns.make(cls.name, ...)``."""
    PATTERNS.add(cls.name, cls)
    return cls


def available() -> list[str]:
    """Registered pattern names in registration order."""
    return list(PATTERNS)


def pattern_class(name: str) -> type[Pattern]:
    """The class registered as ``name``; one-line ValueError naming the closest if unknown."""
    return PATTERNS[name]


def make(name: str, **params: Any) -> Pattern:
    """Build pattern ``name`` with ``params`` (defaults filled in, every value checked)."""
    return pattern_class(name)(**params)
