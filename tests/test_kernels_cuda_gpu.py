"""On a GPU: every kernel against torch.nn.functional.conv2d over 200 random shapes per pattern.

fp32 must match an fp64 reference to a max relative error < 1e-4
(docs/MEASURING.md §the-tolerance); fp16 (half inputs, fp32 accumulation, half output) to
< 2e-3, a few half-precision ulps of the output's scale.  Skipped, with the reason, where
kernels_cuda.is_available() is False.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import kernels_cuda
import patterns
from harness.verified import max_rel_error
from kernels_cuda import launch

AVAILABLE, REASON = kernels_cuda.is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not AVAILABLE, reason=REASON)]

SHAPES_PER_PATTERN = 200
FP16_SHAPES_PER_PATTERN = 50
KERNELS = [(1, 1), (3, 3), (5, 5), (1, 3), (3, 1), (7, 7), (2, 2)]


def _pattern(name: str, rng: random.Random) -> tuple[Any, int, int]:
    """A random pattern of ``name`` and a (Cout, Cin) it can take."""
    if name == "nm":
        m = rng.choice([2, 4, 8, 16])
        n = rng.randrange(1, m)
        return patterns.make("nm", n=n, m=m), rng.randint(1, 70), m * rng.randint(1, 6)
    if name == "cs":
        k, d = rng.choice([2, 4, 8, 16]), rng.choice([None, 1, 2, 3, 4, 8, 16])
        cin = k * (d or rng.randint(1, 12)) * (1 if d is None else rng.randint(1, 3))
        return patterns.make("cs", k=k, d=d), rng.randint(1, 70), cin
    if name == "block":
        n = rng.choice([1, 2, 4, 8, 16, 32, 12])
        p = patterns.make("block", n=n, sparsity=rng.choice([0.5, 0.75, 0.875, 0.3]),
                          balance=rng.choice(["uniform", "global"]),
                          rearrange=rng.random() < 0.5)
        return p, n * rng.randint(1, 5), rng.randint(1, 40)
    if name == "unstructured":
        p = patterns.make("unstructured", sparsity=rng.choice([0.5, 0.75, 0.9, 0.2]))
        return p, rng.randint(1, 70), rng.randint(1, 70)
    if name == "filter":
        return patterns.make("filter", sparsity=0.5), rng.randint(1, 70), rng.randint(1, 40)
    return patterns.make("dense"), rng.randint(1, 140), rng.randint(1, 40)


def _case(name: str, seed: int) -> dict[str, Any]:
    rng = random.Random(f"{name}-{seed}")
    pattern, cout, cin = _pattern(name, rng)
    kh, kw = rng.choice(KERNELS)
    stride = rng.choice([1, 1, 2, 3])
    pad = rng.randint(0, max(kh, kw) // 2)
    h = rng.randint(max(1, kh - 2 * pad), 24)
    w = rng.randint(max(1, kw - 2 * pad), 24)
    return {"pattern": pattern, "wshape": (cout, cin, kh, kw), "xshape": (rng.choice([1, 2, 3, 5]),
            cin, h, w), "stride": stride, "pad": pad, "bias": rng.random() < 0.5}


def _run(case: dict[str, Any], dtype: torch.dtype) -> float:
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(case["wshape"], generator=gen)
    mask = case["pattern"].mask(w)
    w, pattern = (w * mask).to(dtype), case["pattern"].for_layer(mask)  # its channel order
    x = torch.randn(case["xshape"], generator=gen).to(dtype)
    bias = torch.randn(case["wshape"][0], generator=gen) if case["bias"] else None
    conv = kernels_cuda.prepare(w.cuda(), pattern=pattern, stride=case["stride"],
                                padding=case["pad"], bias=None if bias is None else bias.cuda())
    y = conv(x.cuda())
    assert y.dtype == dtype and y.is_cuda
    want = F.conv2d(x.double().cuda(), w.double().cuda(),
                    None if bias is None else bias.double().cuda(), case["stride"], case["pad"])
    assert y.shape == want.shape
    return max_rel_error(y, want)


@pytest.mark.parametrize("name", patterns.available())
def test_fp32_matches_conv2d_on_random_shapes(name):
    worst = max((_run(_case(name, i), torch.float32), i) for i in range(SHAPES_PER_PATTERN))
    assert worst[0] < 1e-4, f"case {worst[1]}: {_case(name, worst[1])}"


@pytest.mark.parametrize("name", patterns.available())
def test_fp16_matches_conv2d_on_random_shapes(name):
    worst = max((_run(_case(name, i), torch.float16), i) for i in range(FP16_SHAPES_PER_PATTERN))
    assert worst[0] < 2e-3, f"case {worst[1]}: {_case(name, worst[1])}"


def test_side_stream_is_ordered():
    p = patterns.make("cs", k=4)
    w = torch.randn(64, 64, 3, 3, device="cuda")
    w = w * p.mask(w)
    conv = kernels_cuda.prepare(w, pattern=p, padding=1)
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        x = torch.randn(8, 64, 56, 56, device="cuda")  # queued on the side stream
        y = conv(x) * 1.0                               # consumed on the side stream
    side.synchronize()
    assert max_rel_error(y, F.conv2d(x.double(), w.double(), padding=1)) < 1e-4


def test_prepared_conv_reports_kernel_and_rejects_bad_x():
    p = patterns.make("block", n=16, sparsity=0.75)
    w = torch.randn(32, 16, 3, 3)
    conv = kernels_cuda.prepare((w * p.mask(w)).cuda(), pattern=p, padding=1)
    assert conv.kernel == "bsr-n16-f32"
    assert conv.isa.startswith("sm_")
    assert conv.nnz == 32 * 4 * 9
    assert conv.kernel_function is None  # nothing launched yet
    conv(torch.randn(1, 16, 5, 5, device="cuda"))
    ppt = launch.BSR_PIXELS_PER_LANE[16]
    assert conv.kernel_function == f"sb_bsr_n16_p{ppt}_f32" and conv.layout == "nchw"
    with pytest.raises(ValueError, match="channels"):
        conv(torch.randn(1, 8, 5, 5, device="cuda"))
    with pytest.raises(ValueError, match="dtype"):
        conv(torch.randn(1, 16, 5, 5, device="cuda").half())
    with pytest.raises(ValueError, match="is on cpu"):
        conv(torch.randn(1, 16, 5, 5))
    info = kernels_cuda.build_info()
    assert info["device"] and info["arch"] == conv.isa
