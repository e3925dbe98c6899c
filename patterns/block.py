"""``block``: 1×N block sparsity along the output channels (1×N pattern; SUBP).

Output channels are cut into block-rows of ``n`` consecutive channels (``Cout % n == 0``).
A block ``W[r·n:(r+1)·n, ci, :, :]`` (``n·Kh·Kw`` weights) is kept or pruned as a whole.

- ``balance='uniform'`` (SUBP): every block-row keeps ``round((1-s)·Cin)`` blocks.
- ``balance='global'`` (1×N): the ``round(s·#blocks)`` lowest-scoring blocks of the layer go.
- ``criterion``: ``l1`` / ``l2`` norm of the block, or ``bpar`` (SUBP's angular redundancy,
  its ``utils/prune_criterion.py``; docs/PATTERNS.md §block):
  ``‖b‖₁ / Σ_b' ‖b'‖₁  −  α · R(b) / Σ_b' R(b')`` with
  ``R(b) = Σ_b' |cos(b, b')|`` summed over every block of b's block-row *including b*
  (``|cos(b, b)| = 1`` for a non-zero block) and ``α = 1``. A zero block has cosine 0 with
  every block, so ``R = 0``; SUBP maps a zero redundancy share to 1, so a zero block scores
  about −1 and is pruned first: ``mask(W ⊙ mask(W)) == mask(W)``.
- ``rearrange`` (1×N's ``rearrange_w``): output channels are sorted by descending filter L1
  norm (ties to the lower index) before the block-rows are formed; the mask is returned in
  the original channel order. The order is a layer's state: ``with_order`` binds it, and a
  bound pattern masks and validates in that order (``validate`` of an unbound one groups
  the channels by their kept blocks, the order ``layer_order`` stores in checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from patterns.base import (
    REQUIRED,
    Pattern,
    bool_param,
    choice_param,
    int_param,
    percent,
    sparsity_param,
)
from patterns.masks import count, keep_largest
from patterns.registry import register

BALANCES = ("uniform", "global")
BPAR_ALPHA = 1.0
GRAM_TILE = 1 << 19
"""Cosine entries computed per matmul in ``bpar`` (2 MiB of float32: stays in L2 cache)."""
GRAM_STRIP = 64
"""Rows of a block-row's cosine matrix per matmul (measured fastest on resnet50 shapes)."""


def blocks_view(weight: torch.Tensor, n: int) -> torch.Tensor:
    """``(Cout, Cin, Kh, Kw)`` -> ``(Cout/n, n, Cin, Kh·Kw)``; a block is ``[r, :, ci, :]``."""
    cout, cin, kh, kw = weight.shape
    return weight.reshape(cout // n, n, cin, kh * kw)


def l1_score(blocks: torch.Tensor) -> torch.Tensor:
    """L1 norm of each block: ``(R, n, Cin, K)`` -> ``(R, Cin)``."""
    return blocks.abs().sum(dim=(1, 3))


def l2_score(blocks: torch.Tensor) -> torch.Tensor:
    """L2 norm of each block: ``(R, n, Cin, K)`` -> ``(R, Cin)``."""
    return blocks.square().sum(dim=(1, 3)).sqrt()


def share(values: torch.Tensor) -> torch.Tensor:
    """Each value over its row's sum (0 where the row sums to 0)."""
    total = values.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, values / total.clamp_min(torch.finfo(values.dtype).tiny), 0)


def redundancy(blocks: torch.Tensor) -> torch.Tensor:
    """``R(b) = Σ_b' |cos(b, b')|`` (b included) per block-row: ``(R, n, Cin, K)`` -> ``(R, Cin)``.

    The cosine matrix of a block-row is symmetric, so only its upper part is computed: for
    each strip of ``GRAM_STRIP`` blocks, one batched matmul of unit vectors against the
    blocks from the strip on; its row sums go to the strip, its column sums (right of the
    diagonal square) to the later blocks. Each matmul writes into one reused cache-sized
    buffer: the full ``R·Cin²`` cosine tensor of a big layer would be gigabytes and
    memory-bound. The tiling is fixed, so a mask is a pure function of the weights on one
    machine; another BLAS may round cosines differently and so order near-tied blocks
    differently.
    """
    rows, n, cin, taps = blocks.shape
    unit = F.normalize(blocks.permute(0, 2, 1, 3).reshape(rows, cin, n * taps), dim=-1)
    columns = unit.transpose(1, 2)
    strip = min(cin, GRAM_STRIP, max(1, GRAM_TILE // cin))
    batch = min(rows, max(1, GRAM_TILE // (strip * cin)))
    buffer = unit.new_empty(batch * strip * cin)
    total = unit.new_zeros(rows, cin)
    for r0 in range(0, rows, batch):
        row_total = total[r0 : r0 + batch]
        for c0 in range(0, cin, strip):
            left = unit[r0 : r0 + batch, c0 : c0 + strip]
            right = columns[r0 : r0 + batch, :, c0:]
            cos = buffer[: left.shape[0] * left.shape[1] * right.shape[2]]
            cos = cos.view(left.shape[0], left.shape[1], right.shape[2])
            torch.bmm(left, right, out=cos).abs_()
            row_total[:, c0 : c0 + strip] += cos.sum(dim=-1)
            row_total[:, c0 + strip :] += cos[:, :, strip:].sum(dim=-2)
    return total


def redundancy_share(values: torch.Tensor) -> torch.Tensor:
    """``R(b) / Σ_b' R(b')``, with a zero share (a zero block, or a zero row) mapped to 1."""
    ratio = share(values)
    return torch.where(ratio == 0, 1.0, ratio)


def bpar_score(blocks: torch.Tensor) -> torch.Tensor:
    """SUBP's block score: magnitude share minus ``α`` times angular-redundancy share."""
    if not blocks.is_floating_point():
        blocks = blocks.float()
    return share(l1_score(blocks)) - BPAR_ALPHA * redundancy_share(redundancy(blocks))


CRITERIA: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "l1": l1_score,
    "l2": l2_score,
    "bpar": bpar_score,
}


def filter_order(weight: torch.Tensor) -> torch.Tensor:
    """Output channels by descending filter L1 norm, ties to the lower index (1×N's order)."""
    norms = weight.detach().abs().reshape(weight.shape[0], -1).sum(dim=1)
    return torch.sort(norms, descending=True, stable=True).indices


def grouping_order(mask: torch.Tensor) -> torch.Tensor:
    """Output channels grouped by their per-channel mask (equal masks adjacent, stable).

    If some order makes ``mask`` a block mask, this one does too: each group of equal
    channel masks then holds whole block-rows, so every group starts at a multiple of n.
    """
    rows = mask.reshape(mask.shape[0], -1).to(torch.uint8)
    group = torch.unique(rows, dim=0, return_inverse=True)[1]
    return torch.sort(group, stable=True).indices


def permutation(order: Any, cout: int, what: str) -> torch.Tensor:
    """``order`` as an int64 tensor, if it is a permutation of ``range(cout)``; else ValueError."""
    order = torch.as_tensor(order)
    if (
        order.dim() != 1
        or order.numel() != cout
        or order.is_floating_point()
        or order.dtype == torch.bool
        or not torch.equal(torch.sort(order.long()).values, torch.arange(cout))
    ):
        raise ValueError(f"{what}: channel order must be a permutation of 0..{cout - 1}")
    return order.long()


def unpermute(permuted: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Rows of ``permuted`` (row i = channel ``order[i]``) back in the original order."""
    out = torch.empty_like(permuted)
    out[order] = permuted
    return out


@register
class Block(Pattern):
    """Keep or prune whole ``n × 1 × Kh × Kw`` blocks (n output channels, one input channel)."""

    name = "block"
    defaults: dict[str, Any] = {
        "n": 4,
        "sparsity": REQUIRED,
        "balance": "uniform",
        "criterion": "l1",
        "rearrange": False,
    }
    _order: torch.Tensor | None = None

    def _canonical(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "n": int_param(self.name, "n", params["n"], 1),
            "sparsity": sparsity_param(self.name, params["sparsity"]),
            "balance": choice_param(self.name, "balance", params["balance"], BALANCES),
            "criterion": choice_param(self.name, "criterion", params["criterion"], list(CRITERIA)),
            "rearrange": bool_param(self.name, "rearrange", params["rearrange"]),
        }

    @property
    def nominal_density(self) -> float:
        return 1.0 - self._params["sparsity"]

    def describe(self) -> str:
        p = self._params
        moved = ",rearranged" if p["rearrange"] else ""
        return f"block(1x{p['n']},{percent(p['sparsity'])},{p['balance']},{p['criterion']}{moved})"

    # ----- channel order (rearrange) ------------------------------------------------------
    @property
    def order(self) -> torch.Tensor | None:
        return self._order

    @property
    def needs_order(self) -> bool:
        return self._params["rearrange"] and self._order is None

    def with_order(self, order: Any) -> Block:
        """This pattern bound to one layer's channel order (row i of the blocking is channel
        ``order[i]``); ``None`` gives the unbound pattern. Only ``rearrange=True`` takes one."""
        if order is None:
            return Block(**self._params)
        if not self._params["rearrange"]:
            raise ValueError(f"{self.describe()} keeps channels in order; use rearrange=true")
        order = torch.as_tensor(order)
        bound = Block(**self._params)
        bound._order = permutation(order, order.numel(), self.describe())
        return bound

    def layer_order(self, mask: torch.Tensor) -> torch.Tensor | None:
        """The channel order a layer with ``mask`` is blocked in (None without rearrange)."""
        if not self._params["rearrange"]:
            return None
        if self._order is not None:
            return self._order.clone()
        return grouping_order(mask.reshape(mask.shape[0], -1))

    def _blocking_order(self, weight: torch.Tensor) -> torch.Tensor | None:
        if not self._params["rearrange"]:
            return None
        if self._order is None:
            return filter_order(weight)
        return permutation(self._order, weight.shape[0], self.describe())

    def _check_conv_shape(self, shape: tuple[int, int, int, int]) -> str | None:
        cout, n = shape[0], self._params["n"]
        if cout % n:
            return (
                f"{self.describe()}: Cout={cout} is not a multiple of n={n}; "
                f"use an n that divides {cout} or keep this layer dense"
            )
        return None

    def _ranking(self, rows: int, cin: int) -> tuple[int, int]:
        """(groups ranked separately, blocks each group keeps) for the balance mode."""
        sparsity = self._params["sparsity"]
        if self._params["balance"] == "uniform":
            return rows, count((1.0 - sparsity) * cin)
        total = rows * cin
        return 1, total - count(sparsity * total)

    def _mask_conv(self, weight: torch.Tensor) -> torch.Tensor:
        order = self._blocking_order(weight)
        if order is None:
            return self._mask_blocked(weight)
        return unpermute(self._mask_blocked(weight[order]), order)

    def _mask_blocked(self, weight: torch.Tensor) -> torch.Tensor:
        blocks = blocks_view(weight, self._params["n"])
        rows, n, cin, taps = blocks.shape
        score = CRITERIA[self._params["criterion"]](blocks)
        groups, keep = self._ranking(rows, cin)
        kept = keep_largest(score.reshape(groups, -1), keep).view(rows, 1, cin, 1)
        return kept.expand(rows, n, cin, taps).reshape(weight.shape)

    def _validate_conv(self, mask: torch.Tensor) -> None:
        if self._params["rearrange"]:
            order = self._order if self._order is not None else grouping_order(mask)
            if order.numel() != mask.shape[0]:
                self._broken(f"its channel order has {order.numel()} entries, Cout={mask.shape[0]}")
            mask = mask[order]
        blocks = blocks_view(mask, self._params["n"])
        whole = blocks.all(dim=3).all(dim=1)
        partial = int((blocks.any(dim=3).any(dim=1) & ~whole).sum())
        if partial:
            self._broken(f"{partial} blocks are partly kept; blocks are kept or pruned whole")
        groups, keep = self._ranking(whole.shape[0], whole.shape[1])
        kept = whole.reshape(groups, -1).sum(dim=-1)
        wrong = int((kept != keep).sum())
        if wrong:
            self._broken(
                f"{wrong} of {groups} ranking groups ({self._params['balance']} balance) "
                f"keep other than exactly {keep} blocks (first keeps {int(kept[kept != keep][0])})"
            )
