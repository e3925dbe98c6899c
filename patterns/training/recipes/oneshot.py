"""``oneshot``: prune a trained dense checkpoint once, then fine-tune with the mask fixed.

Works for every pattern: the masks are ``patterns.apply``'s plan on the dense weights.
Forward ``W * M`` (so pruned weights get no gradient) and the pruned weights are zeroed
after every optimizer step, which also cancels momentum and weight decay on them.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from patterns.training.recipe import MaskedRecipe, RecipeContext, register_recipe


def load_dense_init(recipe: str, path: str, model: nn.Module, model_name: str, dataset: str):
    """Load the checkpoint at ``path`` into ``model``; one-line ValueError if it can't be used."""
    from patterns.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    if ckpt.meta["pattern"] != "dense":
        raise ValueError(
            f"recipe {recipe}: init checkpoint {path} is {ckpt.meta['pattern_describe']}, "
            "not dense; pass a checkpoint trained with --recipe dense"
        )
    if (ckpt.model, ckpt.dataset) != (model_name, dataset):
        raise ValueError(
            f"recipe {recipe}: init checkpoint {path} is {ckpt.model} on {ckpt.dataset}, "
            f"not {model_name} on {dataset}; pass a checkpoint of the same model and data set"
        )
    ckpt.load_into(model)
    return ckpt


@register_recipe("oneshot")
class OneShot(MaskedRecipe):
    summary = "prune a dense checkpoint (init=PATH) once, fine-tune with the mask fixed"
    defaults = {"init": None}
    dense_parent = True

    def __init__(self, pattern: Any, **params: Any) -> None:
        super().__init__(pattern, **params)
        if not self.params["init"]:
            raise ValueError(
                "recipe oneshot needs the dense checkpoint to prune; pass --init PATH "
                "(a checkpoint trained with --recipe dense)"
            )

    def default_lr(self) -> float:
        return 0.01  # fine-tuning a trained model

    def prepare(self, model: nn.Module, *, model_name: str, dataset: str) -> None:
        ckpt = load_dense_init(self.name, self.params["init"], model, model_name, dataset)
        self.init_weights_hash = ckpt.weights_hash

    def setup(self, ctx: RecipeContext) -> None:
        super().setup(ctx)
        self.masks = {name: mask.clone() for name, mask in ctx.plan.masks.items()}
        self.zero_pruned()

    def after_step(self) -> None:
        self.zero_pruned()

    def describe_params(self) -> dict[str, Any]:
        return {**self.params, "init_weights_hash": self.init_weights_hash}
