"""The compiled path's buffer sharing (harness/compile/buffers.py): parts whose values are
alive together never share storage, a value the graph returns (or a view of it) is never
overwritten, and a chain of layers takes turns in a few storages."""

from __future__ import annotations

import torch
from torch import nn

import patterns
from harness.compile.model import compile_model


class SkipNet(nn.Module):
    """A skip over three convs, a returned view of an early value, a chain after it."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(8, 8, 3, padding=1) for _ in range(6))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.relu(self.convs[0](x))
        b = torch.relu(self.convs[1](a))
        c = torch.relu(self.convs[2](b))
        d = torch.relu(self.convs[3](c) + a)  # a is alive across b and c
        e = torch.relu(self.convs[4](d))
        return self.convs[5](e), a.flatten(1)  # a's buffer is returned as a view


def _storages(compiled) -> dict[int, list[str]]:
    shared: dict[int, list[str]] = {}
    for name, module in compiled.module.named_modules():
        if getattr(module, "_out", None) is not None:
            shared.setdefault(module._out.untyped_storage().data_ptr(), []).append(name)
    return shared


def test_parts_alive_together_never_share_and_results_stay_right():
    torch.manual_seed(0)
    model = SkipNet().eval()
    x = torch.randn(1, 8, 12, 12)
    compiled = compile_model(model, x, threads=1, layer_patterns={},
                             dense_pattern=patterns.make("dense"))
    storages = _storages(compiled)
    owner_of_a = next(names for names in storages.values() if "fused_convs_0" in names)
    assert owner_of_a == ["fused_convs_0"]  # returned: nothing else may write there
    assert len(storages) < 6  # the chain b, c, d, e, out takes turns
    for _ in range(2):  # a second input: every buffer rewritten, nothing stale
        x = torch.randn(1, 8, 12, 12)
        with torch.inference_mode():
            out, a = compiled(x)
            ref_out, ref_a = model(x)
        assert torch.allclose(out, ref_out, rtol=1e-4, atol=1e-4)
        assert torch.allclose(a, ref_a, rtol=1e-4, atol=1e-4)
    assert "6 output buffers in" in compiled.note
