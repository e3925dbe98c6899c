"""SR-STE: the backward formula, checked against autograd and finite differences."""

from __future__ import annotations

import torch

import patterns
from patterns.training.ste import sparse_refined_ste


def test_backward_is_grad_plus_decay_on_pruned_weights():
    torch.manual_seed(0)
    w = torch.randn(8, 8, 3, 3, requires_grad=True)
    mask = patterns.make("nm", n=2, m=4).mask(w.detach())
    upstream = torch.randn_like(w)
    (sparse_refined_ste(w, mask, 2e-4) * upstream).sum().backward()
    expected = upstream + 2e-4 * (~mask) * w.detach()
    assert torch.allclose(w.grad, expected, rtol=0, atol=1e-7)
    assert not torch.equal(w.grad, upstream)  # the decay term is really there


def test_forward_is_masked_weight():
    w = torch.randn(4, 8)
    mask = torch.rand(4, 8) > 0.5
    assert torch.equal(sparse_refined_ste(w, mask, 2e-4), w * mask)


def test_gradient_matches_finite_differences_at_the_masked_point():
    """Straight-through: d/dW = f'(W*M) (numerical) + decay*(1-M)*W, for a non-linear f."""
    torch.manual_seed(1)
    w = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    mask = patterns.make("nm", n=1, m=4).mask(w.detach())
    x = torch.randn(5, 8, dtype=torch.float64)

    def f(v: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x @ v.T).pow(2).sum()

    decay = 0.3  # large so that a missing or wrong term is far above the tolerance
    f(sparse_refined_ste(w, mask, decay)).backward()
    v = (w.detach() * mask).clone()
    numeric = torch.zeros_like(v)
    eps = 1e-6
    for i in range(v.numel()):
        d = torch.zeros_like(v).view(-1)
        d[i] = eps
        d = d.view_as(v)
        numeric.view(-1)[i] = (f(v + d) - f(v - d)) / (2 * eps)
    expected = numeric + decay * (~mask) * w.detach()
    assert torch.allclose(w.grad, expected, atol=1e-6)


def test_zero_decay_is_plain_ste():
    w = torch.randn(4, 4, requires_grad=True)
    mask = torch.eye(4, dtype=torch.bool)
    sparse_refined_ste(w, mask, 0.0).sum().backward()
    assert torch.equal(w.grad, torch.ones(4, 4))
