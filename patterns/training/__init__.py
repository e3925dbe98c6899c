"""Training: one trainer, recipes as registered strategies, the resumable run.

```python
from patterns.training import train, TrainConfig, available_recipes, quick_settings
result = train(TrainConfig(model="resnet20", dataset="fashion-mnist", out="runs/cs4",
                           pattern="cs", pattern_params={"k": 4}, recipe="cs", epochs=5))
```
Recipes: dense, oneshot, gmp, srste, subp, cs (``patterns/training/recipes/``).
"""

from patterns.training import recipes  # noqa: F401  (registers the recipes)
from patterns.training.evaluation import Evaluation, evaluate
from patterns.training.recipe import (
    available_recipes,
    make_recipe,
    recipes_with_dense_parent,
    register_recipe,
)
from patterns.training.trainer import TrainConfig, TrainResult, quick_settings, train

__all__ = [
    "Evaluation",
    "TrainConfig",
    "TrainResult",
    "available_recipes",
    "evaluate",
    "make_recipe",
    "quick_settings",
    "recipes_with_dense_parent",
    "register_recipe",
    "train",
]
