"""The recipe strategy interface and its registry (``@register_recipe``).

The trainer knows nothing about pruning methods: it calls these hooks in a fixed order and
each recipe (one module each) fills in the ones it needs::

    recipe = make_recipe(name, pattern, **params)   # ValueError: unknown / misfit / bad param
    recipe.prepare(model, model_name=, dataset=)    # e.g. load a dense checkpoint
    recipe.setup(context)                           # the PrunePlan says which layers are pruned
    for epoch: recipe.on_epoch_start(epoch)
        for step: recipe.on_step_start(step)        # global step number
            forward: weight = recipe.forward_weight(layer, dense_weight)
            backward, optimizer step
            recipe.after_step()
    masks = recipe.final_masks()                    # the trainer zeroes weights outside them

``MaskedRecipe`` holds the per-layer masks most recipes share and implements the forward
either as ``W * M`` (gradient masked) or, with ``decay`` set, as SR-STE (straight-through
gradient plus ``decay * (1 - M) * W``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from patterns.training.ste import sparse_refined_ste
from sparsebench.registry import Registry


@dataclass
class RecipeContext:
    """What a recipe learns about the run in ``setup``."""

    model: nn.Module
    pattern: Any  # patterns.Pattern
    plan: Any  # patterns.PrunePlan: .masks names the pruned layers
    epochs: int
    steps_per_epoch: int
    seed: int

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def layers(self) -> dict[str, nn.Module]:
        """Pruned modules by name, in the plan's order."""
        modules = dict(self.model.named_modules())
        return {name: modules[name] for name in self.plan.masks}


class Recipe:
    """Base strategy: no pruning. Subclasses set ``name``/``defaults`` and override hooks."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    dense_parent: ClassVar[bool] = False
    """True: it fine-tunes a trained dense checkpoint (``init=PATH``), so a sweep trains the
    dense parent first and starts it from there; False: it trains from scratch."""

    def __init__(self, pattern: Any, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            valid = ", ".join(self.defaults) or "none"
            raise ValueError(
                f"recipe {self.name} has no parameter {unknown[0]!r}; valid: {valid}"
            )
        self.pattern = pattern
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.check_pattern(pattern)

    def check_pattern(self, pattern: Any) -> None:
        """Raise a one-line ValueError if this recipe cannot train ``pattern``."""

    def default_lr(self) -> float:
        """Base learning rate when the caller gives none (0.1 from scratch)."""
        return 0.1

    def prepare(self, model: nn.Module, *, model_name: str, dataset: str) -> None:
        """Change the freshly created model before the plan is made (default: nothing)."""

    def setup(self, ctx: RecipeContext) -> None:
        self.ctx = ctx

    def on_epoch_start(self, epoch: int) -> None:
        """Called before the first step of every epoch (0-based)."""

    def on_step_start(self, step: int) -> None:
        """Called before every forward pass with the global step (0-based)."""

    def forward_weight(self, name: str, weight: torch.Tensor) -> torch.Tensor:
        """The weight layer ``name`` computes with, from its dense parameter."""
        return weight

    def after_step(self) -> None:
        """Called after every optimizer step."""

    def final_masks(self) -> dict[str, torch.Tensor]:
        """Masks of the pruned layers at the end of training (module name -> bool mask)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Tensors/plain values needed to resume mid-run (saved each epoch)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved."""

    def describe_params(self) -> dict[str, Any]:
        """Hyper-parameters for the checkpoint's metadata (JSON-serialisable)."""
        return dict(self.params)


class MaskedRecipe(Recipe):
    """A recipe with one bool mask per pruned layer.

    With a ``decay`` parameter the forward is SR-STE (straight-through gradient plus
    ``decay * (1 - M) * W``); without one it is ``W * M`` and pruned weights get no gradient.
    """

    @property
    def decay(self) -> float | None:
        value = self.params.get("decay")
        return None if value is None else float(value)

    def setup(self, ctx: RecipeContext) -> None:
        super().setup(ctx)
        self.layers = ctx.layers()
        self.masks: dict[str, torch.Tensor] = {
            name: torch.ones_like(m.weight, dtype=torch.bool) for name, m in self.layers.items()
        }

    def forward_weight(self, name: str, weight: torch.Tensor) -> torch.Tensor:
        mask = self.current_mask(name, weight)
        if self.decay is None:
            return weight * mask
        return sparse_refined_ste(weight, mask, self.decay)

    def current_mask(self, name: str, weight: torch.Tensor) -> torch.Tensor:
        """Mask used by this forward pass (default: the stored one)."""
        return self.masks[name]

    def dense_weight(self, name: str) -> torch.Tensor:
        """The dense parameter behind layer ``name`` (under its parametrization)."""
        module = self.layers[name]
        parametrizations = getattr(module, "parametrizations", None)
        return parametrizations.weight.original if parametrizations else module.weight

    def zero_pruned(self) -> None:
        """Set weights outside the masks to exactly zero (fixed-mask recipes)."""
        with torch.no_grad():
            for name, mask in self.masks.items():
                self.dense_weight(name).mul_(mask)

    def final_masks(self) -> dict[str, torch.Tensor]:
        return {name: mask.clone() for name, mask in self.masks.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"masks": {name: mask.clone() for name, mask in self.masks.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.masks.update(state.get("masks", {}))


class DynamicMaskRecipe(MaskedRecipe):
    """Mask recomputed from ``|W|`` on every forward with ``self.level`` (default: the
    target pattern); the final masks are the target pattern's masks of the final weights."""

    def setup(self, ctx: RecipeContext) -> None:
        super().setup(ctx)
        self.level = self.pattern

    def current_mask(self, name: str, weight: torch.Tensor) -> torch.Tensor:
        mask = self.level.mask(weight.detach())
        self.masks[name] = mask
        return mask

    def final_masks(self) -> dict[str, torch.Tensor]:
        return {name: self.pattern.mask(self.dense_weight(name).detach()) for name in self.masks}


# --------------------------------------------------------------------------- registry

RECIPES: Registry[str, type[Recipe]] = Registry("recipe")
R = TypeVar("R", bound=type[Recipe])


def register_recipe(name: str) -> Callable[[R], R]:
    """Class decorator: make the recipe class reachable as ``make_recipe(name, ...)``."""

    def decorate(cls: R) -> R:
        RECIPES.add(name, cls)
        cls.name = name
        return cls

    return decorate


def available_recipes() -> list[str]:
    """Registered recipe names."""
    return list(RECIPES)


def recipe_class(name: str) -> type[Recipe]:
    """The class registered as ``name``; one-line ValueError naming the closest if unknown."""
    return RECIPES[name]


def recipes_with_dense_parent() -> list[str]:
    """The registered recipes that start from a trained dense checkpoint (``dense_parent``)."""
    return [name for name, cls in RECIPES.items() if cls.dense_parent]


def make_recipe(name: str, pattern: Any, **params: Any) -> Recipe:
    """Build recipe ``name`` for ``pattern``; ValueError if it does not fit or a param is bad."""
    return recipe_class(name)(pattern, **params)


def require_pattern(recipe: str, pattern: Any, names: tuple[str, ...], hint: str) -> None:
    """One-line ValueError unless ``pattern.name`` is one of ``names``."""
    if pattern.name not in names:
        raise ValueError(
            f"recipe {recipe} cannot train pattern {pattern.name}; {hint}"
        )
