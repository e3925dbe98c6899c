"""``subp``: SUBP-style uniform 1×N block sparsity trained from scratch.

Per epoch ``e`` and pruned layer (docs/RECIPES.md §subp, docs/PATTERNS.md §block):
1. the target mask ``M_p`` = the block pattern's own mask of the ranked weights (every
   block-row keeps ``round((1-p)·Cin)`` blocks, by the pattern's criterion: l1, l2 or bpar);
   the ranked weights are ``score="dense"``: ``W``, the dense weights the straight-through
   gradient also trains, or ``score="masked"``: ``W ⊙ M`` of the previous epoch, so a pruned
   block comes back only through regrowth (what the SUBP authors' main implementation,
   ``regrow_uniform_block_v2``, ranks). The definition leaves it open; the default is
   ``masked``: ResNet-20, Fashion-MNIST, 1x4 at 75 %, 5 epochs, seed 0 (2026-11-21):
   ``masked`` 91.37 % top-1; ``dense`` 89.28 % (train accuracy falling 88.2 -> 87.6 in the
   last two epochs) and 90.81 % with decay=2e-3, whose last epoch still swapped 3.3 % of
   the mask entries (``masked``: none);
2. ``r(e) = clip(((e - e0)/(e1 - e0))**3, 0, 1)`` and per block-row
   ``round((p - p·r(e))·Cin)`` of the pruned blocks are sampled back (without replacement)
   with probability ``softmax(z / tau)``, where ``z`` is the block score (the pattern's
   criterion: l1, l2 or bpar, ``patterns.block.CRITERIA``) normalised within its row
   (z-score over the row's ``Cin`` blocks) and ``tau = 1``; so the effective rate is
   ``p·r(e)``: dense at ``e0``, exactly the pattern from ``e1`` on;
3. forward ``W ⊙ M``, gradient straight through to every weight, SR-STE decay
   ``decay·(1-M)⊙W`` on the pruned ones.
Sampling uses a generator seeded by (seed, epoch), so a resumed run draws the same blocks.
The last epoch always trains with the exact pattern mask (``e1 <= epochs - 1``).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from patterns.base import as_conv
from patterns.block import CRITERIA, blocks_view
from patterns.training.recipe import MaskedRecipe, RecipeContext, register_recipe
from patterns.training.schedules import cubic_ramp, epoch_window, subp_regrow_count
from patterns.training.ste import DEFAULT_DECAY

# ``score`` parameter -> the weights the per-epoch mask ranks, from (dense W, previous mask)
RANKED_WEIGHTS = {
    "dense": lambda weight, mask: weight,
    "masked": lambda weight, mask: weight * mask,
}


def block_scores(weight: torch.Tensor, n: int, criterion: str) -> torch.Tensor:
    """Score of each block by the pattern's own criterion: ``(Cout/n, Cin)``."""
    return CRITERIA[criterion](blocks_view(as_conv(weight.detach()), n))


def block_mask_of(mask: torch.Tensor, n: int) -> torch.Tensor:
    """``(Cout/n, Cin)`` view of a block mask (one entry per block)."""
    return blocks_view(as_conv(mask), n)[:, 0, :, 0]


def regrow(
    block_mask: torch.Tensor, scores: torch.Tensor, count: int, tau: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Turn ``count`` pruned blocks per row back on, sampled by ``softmax(z/tau)``.

    ``block_mask``/``scores``: ``(rows, Cin)``. ``z`` is the score z-normalised within its
    row; kept blocks have probability 0. ``count`` is clipped to the pruned blocks per row
    (all rows have the same number, the pattern being uniform).
    """
    pruned = int((~block_mask[0]).sum()) if block_mask.numel() else 0
    count = min(count, pruned)
    if count <= 0:
        return block_mask
    mean = scores.mean(dim=1, keepdim=True)
    std = scores.std(dim=1, keepdim=True).clamp_min(1e-12)
    logits = ((scores - mean) / std / tau).masked_fill(block_mask, float("-inf"))
    probs = torch.softmax(logits, dim=1)
    picks = torch.multinomial(probs, count, replacement=False, generator=generator)
    grown = block_mask.clone()
    grown.scatter_(1, picks, True)
    return grown


@register_recipe("subp")
class SUBP(MaskedRecipe):
    summary = "uniform 1xN from scratch: per-epoch mask, cubic rate, importance-sampled regrowth"
    defaults = {"decay": DEFAULT_DECAY, "tau": 1.0, "ramp_start": 0.0, "ramp_end": 0.5,
                "score": "masked"}

    def __init__(self, pattern: Any, **params: Any) -> None:
        super().__init__(pattern, **params)
        if self.params["score"] not in RANKED_WEIGHTS:
            raise ValueError(
                f"recipe subp: score={self.params['score']!r} is not one of "
                f"{', '.join(RANKED_WEIGHTS)}; e.g. --recipe-param score=masked"
            )

    def check_pattern(self, pattern: Any) -> None:
        if pattern.name != "block" or pattern.params.get("balance") != "uniform":
            raise ValueError(
                f"recipe subp trains uniform 1xN blocks, not {pattern.describe()}; "
                "use --pattern block --balance uniform, or --recipe gmp/oneshot"
            )

    def setup(self, ctx: RecipeContext) -> None:
        super().setup(ctx)
        self.e0, self.e1 = epoch_window(
            self.params["ramp_start"], self.params["ramp_end"], ctx.epochs
        )

    def on_epoch_start(self, epoch: int) -> None:
        p = self.pattern.params["sparsity"]
        n = self.pattern.params["n"]
        r = cubic_ramp(epoch, self.e0, self.e1)
        gen = torch.Generator().manual_seed(self.ctx.seed * 1_000_003 + epoch)
        ranked = RANKED_WEIGHTS[self.params["score"]]
        for name in self.masks:
            weight = ranked(self.dense_weight(name).detach(), self.masks[name])
            full = self.pattern.mask(weight)
            cin = weight.shape[1]
            block_mask = block_mask_of(full, n)
            count = subp_regrow_count(p, r, cin)
            scores = block_scores(weight, n, self.pattern.params["criterion"])
            grown = regrow(block_mask, scores, count, self.params["tau"], gen)
            self.masks[name] = expand_blocks(grown, n, weight.shape)


def expand_blocks(block_mask: torch.Tensor, n: int, shape: torch.Size) -> torch.Tensor:
    """``(Cout/n, Cin)`` block mask -> bool mask of the weight's ``shape``."""
    full = block_mask.repeat_interleave(n, dim=0)
    taps = math.prod(shape[2:])
    return full.unsqueeze(-1).expand(-1, -1, taps).reshape(shape).contiguous()
