"""Name -> pattern class registry: ``@register`` on each class, ``available()``, ``make()``.

Patterns register themselves when their module is imported (``patterns/__init__.py``
imports them in the canonical order), so callers never branch on pattern names.
"""

from __future__ import annotations

from typing import Any, TypeVar

from patterns.base import Pattern

__all__ = ["available", "make", "pattern_class", "register"]

_REGISTRY: dict[str, type[Pattern]] = {}

P = TypeVar("P", bound=type[Pattern])


def register(cls: P) -> P:
    """Class decorator: make ``cls`` reachable as ``patterns.make(cls.name, ...)``."""
    if cls.name in _REGISTRY:
        raise ValueError(f"pattern {cls.name!r} is registered twice; pattern names are unique")
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Registered pattern names in registration order."""
    return list(_REGISTRY)


def pattern_class(name: str) -> type[Pattern]:
    """The class registered as ``name``; one-line ValueError listing the names if unknown."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown pattern {name!r}; choose one of: {', '.join(_REGISTRY)}"
        ) from None


def make(name: str, **params: Any) -> Pattern:
    """Build pattern ``name`` with ``params`` (defaults filled in, every value checked)."""
    return pattern_class(name)(**params)
