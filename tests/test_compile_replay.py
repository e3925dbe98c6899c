"""The compiled model's replay (harness/compile/replay.py): the pass as one list of kernel
calls equals the fx forward and torch, gives every call a new output, follows a new input
shape, and is refused (the fx forward runs) when a graph node computes in torch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import patterns
from harness.compile.model import compile_model

TOLERANCE = 1e-4


class Net(nn.Module):
    """conv-relu, a residual block, max pool, global average pool, flatten, dropout, fc."""

    def __init__(self, scale: bool = False) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.a = nn.Conv2d(16, 16, 3, padding=1)
        self.b = nn.Conv2d(16, 16, 1)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(16, 10)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = torch.relu(self.b(torch.relu(self.a(x))) + x)
        x = self.pool(x)
        if self.scale:  # a torch op between the parts: not a view, so no replay
            x = x * 2.0
        return self.fc(self.drop(torch.flatten(self.avg(x), 1)))


def _compiled(scale: bool = False, size: int = 20):
    torch.manual_seed(0)
    model = Net(scale).eval()
    x = torch.randn(1, 3, size, size)
    return model, compile_model(model, x, threads=1, layer_patterns={},
                                dense_pattern=patterns.make("dense")), x


def _close(out: torch.Tensor, ref: torch.Tensor) -> bool:
    return float((out - ref).abs().max() / ref.abs().max()) <= TOLERANCE


def test_replay_equals_torch_and_gives_each_call_its_own_output():
    model, compiled, x = _compiled()
    assert compiled.note.endswith("forward replayed as 6 kernel calls")
    assert compiled.replay is not None and len(compiled.replay.calls) == 6
    first = compiled(x)
    other = torch.randn_like(x)
    second = compiled(other)
    with torch.inference_mode():
        assert _close(first, model(x))  # not overwritten by the second call
        assert _close(second, model(other))
        assert _close(compiled.module(other), second)  # the fx forward agrees


def test_replay_follows_a_new_input_shape():
    model, compiled, _ = _compiled(size=20)
    bigger = torch.randn(2, 3, 28, 28)
    out = compiled(bigger)
    assert compiled.replay is not None and compiled.replay.shape == bigger.shape
    again = torch.randn(2, 3, 28, 28)
    with torch.inference_mode():
        assert _close(out, model(bigger))
        assert _close(compiled(again), model(again))


def test_a_torch_op_between_parts_keeps_the_fx_forward():
    model, compiled, x = _compiled(scale=True)
    assert compiled.replay is None
    assert compiled.note.endswith("forward in fx (mul computes in torch)")
    with torch.inference_mode():
        assert _close(compiled(x), model(x))


def test_an_input_the_kernels_refuse_is_not_converted_by_the_replay():
    _, compiled, x = _compiled()
    with pytest.raises(ValueError, match="float32"):
        compiled(x.double())
    assert compiled.replay is not None  # still there for the next float32 input
