"""SUBP: regrowth counts per block-row, masks by epoch, the exact pattern at the end."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import patterns
from patterns.training.recipe import RecipeContext
from patterns.training.recipes.subp import SUBP, block_mask_of, regrow
from patterns.training.schedules import cubic_ramp


def test_regrow_adds_exactly_count_pruned_blocks_per_row():
    torch.manual_seed(0)
    block_mask = torch.zeros(6, 32, dtype=torch.bool)
    block_mask[:, :8] = True
    scores = torch.rand(6, 32)
    gen = torch.Generator().manual_seed(3)
    grown = regrow(block_mask, scores, 5, 1.0, gen)
    assert grown.sum(dim=1).tolist() == [13] * 6
    assert grown[:, :8].all()  # kept blocks stay kept
    again = regrow(block_mask, scores, 5, 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(grown, again)  # seeded: deterministic


def test_regrow_count_is_clipped_to_pruned_blocks():
    block_mask = torch.zeros(2, 8, dtype=torch.bool)
    block_mask[:, :2] = True
    grown = regrow(block_mask, torch.rand(2, 8), 100, 1.0, torch.Generator().manual_seed(0))
    assert grown.all()


def test_regrow_samples_by_softmax_of_the_normalised_pruned_scores():
    """SUBP's regrow_uniform_block.py: p = softmax(F.normalize(s_pruned) / tau); the kept
    blocks (here with far larger scores) take no part in the normalisation."""
    rows = 40_000
    block_mask = torch.zeros(rows, 6, dtype=torch.bool)
    block_mask[:, [1, 4]] = True
    scores = torch.tensor([0.0, 50.0, 1.0, 2.0, 90.0, 3.0]).expand(rows, 6).contiguous()
    for tau in (1.0, 0.5):
        grown = regrow(block_mask, scores, 1, tau, torch.Generator().manual_seed(0))
        picked = (grown & ~block_mask).float().mean(dim=0)[[0, 2, 3, 5]]
        pruned = torch.tensor([0.0, 1.0, 2.0, 3.0])
        expected = torch.softmax(pruned / pruned.norm() / tau, dim=0)  # 0.178 .. 0.339 at tau=1
        assert torch.allclose(picked, expected, atol=0.01), (tau, picked, expected)


def _subp_on_conv(epochs: int, sparsity: float = 0.75, **params):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.Conv2d(16, 32, 3))
    pattern = patterns.make("block", n=4, sparsity=sparsity)
    plan = patterns.apply(model, pattern)
    recipe = SUBP(pattern, **params)
    recipe.setup(RecipeContext(model, pattern, plan, epochs, 10, seed=0))
    return model, pattern, recipe


def test_subp_epoch_masks_follow_the_cubic_rate():
    epochs = 8
    model, pattern, recipe = _subp_on_conv(epochs)
    weight = model[1].weight
    for epoch in range(epochs):
        recipe.on_epoch_start(epoch)
        mask = recipe.masks["1"]
        blocks = block_mask_of(mask, 4)
        pruned_per_row = (~blocks).sum(dim=1)
        r = cubic_ramp(epoch, recipe.e0, recipe.e1)
        target_pruned = 16 - round(0.25 * 16)  # 12 of 16 blocks per row at p = 0.75
        regrown = min(target_pruned, math.floor((0.75 - 0.75 * r) * 16 + 1e-9))  # SUBP floors
        assert pruned_per_row.tolist() == [target_pruned - regrown] * 8, epoch
    pattern.validate(recipe.masks["1"])  # the last epoch trains the exact pattern
    assert torch.equal(recipe.masks["1"], pattern.mask(weight))


def test_subp_refuses_global_balance_and_other_patterns():
    with pytest.raises(ValueError, match="uniform 1xN"):
        SUBP(patterns.make("block", n=4, sparsity=0.5, balance="global"))
    with pytest.raises(ValueError, match="uniform 1xN"):
        SUBP(patterns.make("nm", n=2, m=4))


def _masks_after_the_ramp(score: str) -> list[torch.Tensor]:
    """Epoch masks from the end of the ramp on, the weights redrawn before every epoch (what
    the straight-through gradient can do to pruned weights between two mask updates)."""
    epochs = 6
    model, _, recipe = _subp_on_conv(epochs, score=score)
    masks = []
    for epoch in range(epochs):
        with torch.no_grad():
            model[1].weight.normal_()
        recipe.on_epoch_start(epoch)
        if epoch >= recipe.e1:
            masks.append(recipe.masks["1"].clone())
    return masks


def test_masked_score_keeps_the_mask_once_the_ramp_is_over():
    masked = _masks_after_the_ramp("masked")
    assert len(masked) >= 2 and all(torch.equal(m, masked[0]) for m in masked)
    dense = _masks_after_the_ramp("dense")  # ranks the redrawn dense weights: churns
    assert not all(torch.equal(m, dense[0]) for m in dense)


def test_subp_refuses_an_unknown_score():
    with pytest.raises(ValueError, match="score='l1' is not one of dense, masked"):
        SUBP(patterns.make("block", n=4, sparsity=0.5), score="l1")


def test_rearranged_subp_freezes_the_channel_order_once_the_ramp_is_over():
    """With rearrange, the blocks follow the ranked weights' filter order while the rate
    ramps, then that order is kept: the exact-pattern epochs keep their mask."""
    from patterns.block import filter_order

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.Conv2d(16, 32, 3))
    pattern = patterns.make("block", n=4, sparsity=0.75, rearrange=True)
    recipe = SUBP(pattern)
    recipe.setup(RecipeContext(model, pattern, patterns.apply(model, pattern), 6, 10, seed=0))
    after = []
    for epoch in range(6):
        with torch.no_grad():
            model[1].weight.normal_()
        weight = recipe.dense_weight("1").detach() * recipe.masks["1"]
        recipe.on_epoch_start(epoch)
        if epoch < recipe.e1:  # still ramping: this epoch's order is the ranked weights'
            assert torch.equal(recipe.orders["1"], filter_order(weight))
        else:
            after.append(recipe.masks["1"].clone())
    assert len(after) >= 2 and all(torch.equal(m, after[0]) for m in after)
    bound = pattern.with_order(recipe.orders["1"])
    bound.validate(after[-1])
    with pytest.raises(ValueError, match="partly kept"):
        patterns.make("block", n=4, sparsity=0.75).validate(after[-1])  # it is permuted
    resumed = SUBP(pattern)
    resumed.setup(RecipeContext(model, pattern, patterns.apply(model, pattern), 6, 10, seed=0))
    resumed.load_state_dict(recipe.state_dict())
    assert torch.equal(resumed.orders["1"], bound.order)
