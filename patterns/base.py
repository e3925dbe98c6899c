"""The ``Pattern`` base class: parameter checking, shape plumbing and the public methods.

A concrete pattern (one module each) declares its parameters and implements three small
hooks on a 4-D ``(Cout, Cin, Kh, Kw)`` view: ``_check_conv_shape``, ``_mask_conv`` and
``_validate_conv``. The base class turns a Linear weight ``(out, in)`` into a 1×1 conv,
raises one-line ``ValueError``s for bad input, and gives every pattern the same API
(docs/PATTERNS.md §the-pattern-api): ``mask``, ``check_shape``, ``validate``, ``mask_many``,
``describe``.
"""

from __future__ import annotations

import json
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NoReturn

import torch

__all__ = [
    "REQUIRED",
    "Pattern",
    "bool_param",
    "choice_param",
    "int_param",
    "percent",
    "sparsity_param",
]

REQUIRED: Any = object()
"""Marks a parameter without a default in ``Pattern.defaults``."""


def int_param(pattern: str, name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, else a one-line ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(
            f"{pattern}: parameter {name} must be an integer >= {minimum}, got {value!r}"
        )
    return int(value)


def sparsity_param(pattern: str, value: Any, name: str = "sparsity") -> float:
    """``value`` as a float in [0, 1), else a one-line ValueError with the fix."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= float(value) < 1.0
    ):
        raise ValueError(
            f"{pattern}: parameter {name} must be a fraction in [0, 1), got {value!r}; "
            f"e.g. {name}=0.75 for 75 % zeros"
        )
    return float(value)


def bool_param(pattern: str, name: str, value: Any) -> bool:
    """``value`` if it is a bool, else a one-line ValueError with the fix."""
    if not isinstance(value, bool):
        raise ValueError(
            f"{pattern}: parameter {name} must be true or false, got {value!r}"
        )
    return value


def choice_param(pattern: str, name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else a one-line ValueError listing them."""
    if value not in choices:
        raise ValueError(
            f"{pattern}: parameter {name} must be one of {', '.join(choices)}, got {value!r}"
        )
    return str(value)


def percent(fraction: float) -> str:
    """``0.875`` -> ``'87.5%'`` for ``describe()`` strings."""
    return f"{100.0 * fraction:.6g}%"


def as_conv(tensor: torch.Tensor) -> torch.Tensor:
    """View a Linear ``(out, in)`` tensor as a 1×1 conv ``(out, in, 1, 1)``; 4-D unchanged."""
    return tensor.reshape(*tensor.shape, 1, 1) if tensor.dim() == 2 else tensor


class Pattern(ABC):
    """One sparsity pattern with fixed parameters; build it with ``patterns.make``."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]
    """Parameter name -> default (``REQUIRED`` when the caller must give it)."""
    prunes: ClassVar[bool] = True
    """False for ``dense``: ``patterns.apply`` then records every layer as not pruned."""

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            valid = ", ".join(self.defaults) or "none"
            raise ValueError(
                f"unknown parameter {unknown[0]!r} for pattern {self.name}; "
                f"valid parameters: {valid}"
            )
        merged = {**self.defaults, **params}
        missing = [key for key, value in merged.items() if value is REQUIRED]
        if missing:
            raise ValueError(
                f"pattern {self.name} needs parameter {missing[0]!r}; "
                f"e.g. patterns.make({self.name!r}, {missing[0]}=...)"
            )
        self._params = self._canonical(merged)

    # ----- what a concrete pattern implements -------------------------------------------
    @abstractmethod
    def _canonical(self, params: dict[str, Any]) -> dict[str, Any]:
        """Check every parameter (one-line ValueError) and return the canonical dict."""

    @property
    @abstractmethod
    def nominal_density(self) -> float:
        """Fraction of weights the pattern keeps by definition (before rounding)."""

    @abstractmethod
    def describe(self) -> str:
        """Short human-readable form, e.g. ``nm(2:4)``."""

    def _check_conv_shape(self, shape: tuple[int, int, int, int]) -> str | None:
        """Reason a ``(Cout, Cin, Kh, Kw)`` shape cannot take the pattern, else None."""
        return None

    @abstractmethod
    def _mask_conv(self, weight: torch.Tensor) -> torch.Tensor:
        """Mask of a 4-D weight whose shape already passed ``_check_conv_shape``."""

    @abstractmethod
    def _validate_conv(self, mask: torch.Tensor) -> None:
        """Raise via ``self._broken`` if a 4-D bool mask breaks the pattern."""

    # ----- public API ---------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        """Canonical, JSON-serialisable parameters with defaults filled in (a copy)."""
        return dict(self._params)

    @classmethod
    def at_sparsity(cls, sparsity: float, **fixed: Any) -> Pattern:
        """The pattern at the reachable level nearest ``sparsity`` (continuous: exactly it)."""
        return cls(sparsity=sparsity, **fixed)

    def check_shape(self, shape: Sequence[int]) -> str | None:
        """Why a weight of ``shape`` cannot take this pattern, or None if it can."""
        shape = tuple(int(size) for size in shape)
        if len(shape) not in (2, 4):
            return (
                f"{self.describe()} needs a 2-D (out, in) or 4-D (Cout, Cin, Kh, Kw) weight, "
                f"got shape {shape}"
            )
        if 0 in shape:
            return f"{self.describe()} cannot mask an empty weight of shape {shape}"
        return self._check_conv_shape(shape if len(shape) == 4 else (*shape, 1, 1))

    def mask(self, weight: torch.Tensor) -> torch.Tensor:
        """Boolean mask (True = kept) of ``weight``'s shape; ValueError if it can't be masked."""
        self._require_weight(weight)
        return self._mask_conv(as_conv(weight.detach())).reshape(weight.shape).contiguous()

    def mask_many(self, weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Masks of several layers; per layer unless a pattern's scope spans layers."""
        return {name: self.mask(weight) for name, weight in weights.items()}

    def validate(self, mask: torch.Tensor) -> None:
        """Raise ValueError (one line) if ``mask`` does not obey this pattern."""
        self._require_shape(mask, "mask")
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be a torch.bool tensor, got dtype {mask.dtype}")
        self._validate_conv(as_conv(mask))

    # ----- per-layer channel order (only ``block`` with ``rearrange`` has one) -------------
    @property
    def order(self) -> torch.Tensor | None:
        """The layer's output-channel order this pattern is bound to (None: natural order)."""
        return None

    @property
    def needs_order(self) -> bool:
        """True when kernels need a bound channel order (``with_order``) to pack a layer."""
        return False

    def with_order(self, order: Any) -> Pattern:
        """This pattern bound to one layer's channel order; patterns that keep channels in
        their natural order accept only ``None`` (themselves)."""
        if order is not None:
            raise ValueError(
                f"{self.describe()} keeps channels in order; it takes no channel order"
            )
        return self

    def layer_order(self, mask: torch.Tensor) -> torch.Tensor | None:
        """The channel order a layer with ``mask`` is laid out in (None: natural order)."""
        return None

    def for_layer(self, mask: torch.Tensor) -> Pattern:
        """This pattern bound to the channel order of a layer with ``mask`` (kernels pack
        with it); the pattern itself when it keeps channels in order."""
        return self.with_order(self.layer_order(mask))

    # ----- shared plumbing ----------------------------------------------------------------
    def _require_shape(self, tensor: Any, what: str) -> None:
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"{what} must be a torch.Tensor, got {type(tensor).__name__}")
        reason = self.check_shape(tensor.shape)
        if reason is not None:
            raise ValueError(reason)

    def _require_weight(self, weight: Any) -> None:
        self._require_shape(weight, "weight")
        if weight.is_floating_point() and not bool(torch.isfinite(weight).all()):
            raise ValueError("weight has NaN or infinite values; a mask needs finite weights")

    def _broken(self, what: str) -> NoReturn:
        raise ValueError(f"mask breaks {self.describe()}: {what}")

    def __repr__(self) -> str:
        return f"<Pattern {self.describe()}>"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Pattern) and other.name == self.name and other._params == self._params
        )

    def __hash__(self) -> int:
        return hash((self.name, json.dumps(self._params, sort_keys=True)))
