"""Masked forward with straight-through gradients: the autograd functions the recipes use.

``sparse_refined_ste(w, mask, decay)`` is SR-STE (Zhou et al., 2021): the forward pass uses
``w * mask``; the backward pass hands the incoming gradient straight through to *all* dense
weights and adds ``decay * (1 - mask) * w``, a weight decay on the pruned weights only, so
they do not oscillate across the mask boundary. ``decay = 0`` is the plain STE.
"""

from __future__ import annotations

import torch

DEFAULT_DECAY = 2e-4  # lambda_w of SR-STE


class SparseRefinedSTE(torch.autograd.Function):
    """forward: ``w * mask``; backward: ``grad + decay * (~mask) * w`` (mask gets no gradient)."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, mask: torch.Tensor, decay: float) -> torch.Tensor:
        ctx.save_for_backward(weight, mask)
        ctx.decay = decay
        return weight * mask

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        weight, mask = ctx.saved_tensors
        grad_w = grad
        if ctx.decay:
            grad_w = grad + ctx.decay * weight * (~mask)
        return grad_w, None, None


def sparse_refined_ste(weight: torch.Tensor, mask: torch.Tensor, decay: float) -> torch.Tensor:
    """Apply SR-STE: ``mask`` is a bool tensor of ``weight``'s shape (True = kept)."""
    return SparseRefinedSTE.apply(weight, mask, decay)
