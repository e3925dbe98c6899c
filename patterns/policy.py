"""Apply one pattern to a whole model under a layer policy (docs/PATTERNS.md §layer-policy).

By default the stem conv (``in_channels`` 3 or 1), depthwise convs (``groups ==
in_channels > 1``) and the final classifier (the last ``nn.Linear``) stay dense; every other
``Conv2d`` / ``Linear`` is pruned with the same pattern. A layer whose shape the pattern
cannot take stays dense with the reason recorded — never padded, never silently skipped.
All pruned layers go to ``pattern.mask_many`` together, so a global scope spans them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from patterns.base import Pattern
from patterns.masks import density

__all__ = ["LayerPolicy", "LayerRecord", "PrunePlan", "apply", "policy_reasons", "prunable"]


@dataclass(frozen=True)
class LayerPolicy:
    """Which layers stay dense whatever the pattern; each rule is a flag."""

    dense_stem: bool = True
    """Keep convs whose ``in_channels`` is in ``stem_channels`` (the image input) dense."""
    dense_depthwise: bool = True
    """Keep depthwise convs (``groups == in_channels > 1``) dense."""
    dense_classifier: bool = True
    """Keep the last ``nn.Linear`` of the model dense."""
    stem_channels: tuple[int, ...] = (1, 3)
    """Input-channel counts that mark a stem conv (grey and RGB images)."""

    def dense_reason(self, module: nn.Module, is_classifier: bool) -> str | None:
        """Why the policy keeps ``module`` dense, or None if it may be pruned."""
        if isinstance(module, nn.Conv2d):
            if self.dense_stem and module.in_channels in self.stem_channels:
                return f"policy: stem conv (Cin={module.in_channels}) stays dense"
            if self.dense_depthwise and module.groups == module.in_channels > 1:
                return "policy: depthwise conv stays dense"
        if self.dense_classifier and is_classifier:
            return "policy: final classifier stays dense"
        return None


@dataclass(frozen=True)
class LayerRecord:
    """One conv/linear layer of a plan. ``reason`` says why it stays dense ('' if pruned)."""

    name: str
    shape: tuple[int, ...]
    kind: str
    pruned: bool
    reason: str
    density: float


@dataclass
class PrunePlan:
    """Masks of the pruned layers plus a record of every conv/linear layer."""

    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    table: list[LayerRecord] = field(default_factory=list)
    pattern: str = ""
    """``describe()`` of the pattern that made the plan."""

    @property
    def density(self) -> float:
        """Actual density over the pruned layers (1.0 when nothing is pruned)."""
        total = sum(math.prod(r.shape) for r in self.table if r.pruned)
        kept = sum(int(m.count_nonzero()) for m in self.masks.values())
        return kept / total if total else 1.0


def _layers(model: nn.Module) -> dict[str, nn.Module]:
    return {name: module for name, module in model.named_modules()
            if isinstance(module, nn.Conv2d | nn.Linear)}


def policy_reasons(model: nn.Module, policy: LayerPolicy | None = None) -> dict[str, str | None]:
    """Every conv/linear layer of ``model`` -> why ``policy`` keeps it dense (None: the
    policy lets a pattern prune it), in module order."""
    policy = LayerPolicy() if policy is None else policy
    layers = _layers(model)
    linears = [name for name, module in layers.items() if isinstance(module, nn.Linear)]
    classifier = linears[-1] if linears else None
    return {name: policy.dense_reason(module, name == classifier)
            for name, module in layers.items()}


def prunable(model: nn.Module, policy: LayerPolicy | None = None) -> list[str]:
    """Names of the layers the policy lets a pattern prune: the one layer list every
    benchmark path measures (a pattern may still leave some dense for their shape)."""
    return [name for name, reason in policy_reasons(model, policy).items() if reason is None]


def apply(model: nn.Module, pattern: Pattern, policy: LayerPolicy | None = None) -> PrunePlan:
    """Masks for ``model``'s prunable layers and a per-layer table (see module docstring)."""
    layers = _layers(model)
    reasons: dict[str, str] = {}
    for name, reason in policy_reasons(model, policy).items():
        module = layers[name]
        if reason is None and not pattern.prunes:
            reason = f"pattern {pattern.describe()} prunes nothing"
        if reason is None:
            reason = pattern.check_shape(module.weight.shape)
        if reason is not None:
            reasons[name] = reason

    masks = pattern.mask_many(
        {name: module.weight.detach() for name, module in layers.items() if name not in reasons}
    )
    table = [
        LayerRecord(
            name=name,
            shape=tuple(module.weight.shape),
            kind="linear" if isinstance(module, nn.Linear) else "conv",
            pruned=name in masks,
            reason=reasons.get(name, ""),
            density=density(masks[name]) if name in masks else 1.0,
        )
        for name, module in layers.items()
    ]
    return PrunePlan(masks=masks, table=table, pattern=pattern.describe())
