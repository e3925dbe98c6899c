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
   ``floor((p - p·r(e))·Cin)`` of the pruned blocks are sampled back (without replacement)
   with probability ``softmax(F.normalize(s) / tau)``, ``tau = 1``, where ``s`` holds the
   scores of that row's pruned blocks only (the pattern's criterion: l1, l2 or bpar,
   ``patterns.block.CRITERIA``) and ``F.normalize`` divides it by its L2 norm — nearly
   uniform, as the SUBP authors' ``regrow_uniform_block.py`` does; so the effective rate
   is about ``p·r(e)``: dense at ``e0``, exactly the pattern from ``e1`` on;
3. forward ``W ⊙ M``, gradient straight through to every weight, SR-STE decay
   ``decay·(1-M)⊙W`` on the pruned ones.
Sampling uses a generator seeded by (seed, epoch), so a resumed run draws the same blocks.
The last epoch always trains with the exact pattern mask (``e1 <= epochs - 1``).

With ``rearrange=true`` the blocks are formed, ranked and regrown in the layer's channel
order: descending filter L1 norm of the ranked weights, recomputed every epoch while the
rate still ramps (``r < 1``) and frozen from then on (kept in the resume state), so the
exact-pattern epochs rank ``W ⊙ M`` in the order ``M`` was made in and keep ``M``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from patterns.base import as_conv
from patterns.block import CRITERIA, blocks_view, filter_order, unpermute
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
    """Turn ``count`` pruned blocks per row back on, sampled by ``softmax(normalize(s)/tau)``.

    ``block_mask``/``scores``: ``(rows, Cin)``; ``s`` is the vector of a row's pruned-block
    scores (ascending channel order), L2-normalised. ``count`` is clipped to the pruned
    blocks per row (all rows have the same number, the pattern being uniform).
    """
    rows = block_mask.shape[0]
    pruned = int((~block_mask[0]).sum()) if block_mask.numel() else 0
    count = min(count, pruned)
    if count <= 0:
        return block_mask
    where = (~block_mask).nonzero()[:, 1].view(rows, pruned)  # each row's pruned channels
    probs = torch.softmax(F.normalize(scores.gather(1, where), dim=1) / tau, dim=1)
    picks = torch.multinomial(probs, count, replacement=False, generator=generator)
    grown = block_mask.clone()
    grown.scatter_(1, where.gather(1, picks), True)
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
        # blocks in the order this recipe puts the channels in (``_order``), not re-sorted
        self.in_order = type(self.pattern)(**{**self.pattern.params, "rearrange": False})
        self.orders: dict[str, torch.Tensor] = {}

    def on_epoch_start(self, epoch: int) -> None:
        p = self.pattern.params["sparsity"]
        n = self.pattern.params["n"]
        r = cubic_ramp(epoch, self.e0, self.e1)
        gen = torch.Generator().manual_seed(self.ctx.seed * 1_000_003 + epoch)
        ranked = RANKED_WEIGHTS[self.params["score"]]
        for name in self.masks:
            weight = ranked(self.dense_weight(name).detach(), self.masks[name])
            order = self._order(name, weight, r)
            blocked = weight if order is None else weight[order]
            block_mask = block_mask_of(self.in_order.mask(blocked), n)
            count = subp_regrow_count(p, r, weight.shape[1])
            scores = block_scores(blocked, n, self.pattern.params["criterion"])
            grown = expand_blocks(regrow(block_mask, scores, count, self.params["tau"], gen),
                                  n, weight.shape)
            self.masks[name] = grown if order is None else unpermute(grown, order)

    def _order(self, name: str, weight: torch.Tensor, r: float) -> torch.Tensor | None:
        """The layer's channel order this epoch: None without rearrange; the ranked weights'
        filter order while the rate ramps; frozen once it has reached the target."""
        if not self.pattern.params["rearrange"]:
            return None
        if r < 1 or name not in self.orders:
            self.orders[name] = filter_order(weight)
        return self.orders[name]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "orders": dict(self.orders)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.orders.update(state.get("orders", {}))


def expand_blocks(block_mask: torch.Tensor, n: int, shape: torch.Size) -> torch.Tensor:
    """``(Cout/n, Cin)`` block mask -> bool mask of the weight's ``shape``."""
    full = block_mask.repeat_interleave(n, dim=0)
    taps = math.prod(shape[2:])
    return full.unsqueeze(-1).expand(-1, -1, taps).reshape(shape).contiguous()
