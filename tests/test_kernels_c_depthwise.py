"""Our depthwise convolution (src/dwconv2d_chw.h, driven by src/depthwise.c) against torch:
fixed MobileNet shapes and generated ones on every ISA, and the C side's refusals."""

from __future__ import annotations

import pytest
import torch

import kernels_c
from kernels_c.depthwise import DepthwiseConv


def _depthwise_reference(x, w, b, stride, padding, act):
    ref = torch.nn.functional.conv2d(x, w, b, stride, padding, 1, w.shape[0])
    return {"none": ref, "relu": ref.relu(), "relu6": ref.clamp(0, 6)}[act]


@pytest.mark.parametrize("isa", kernels_c.available_isas())
@pytest.mark.parametrize("channels, size, kernel, stride, padding", [
    (8, 13, 3, 1, 1), (8, 14, 3, 2, 1), (5, 7, 5, 2, 2), (3, 4, 3, 1, 0), (4, 9, 3, 3, 1),
    (2, 112, 3, 1, 1), (2, 112, 3, 2, 1), (3, 7, 3, 1, 1), (2, 70, 3, 2, 1), (2, 1, 1, 1, 0)])
@pytest.mark.parametrize("act", ["none", "relu", "relu6"])
def test_depthwise_kernel_equals_torch(channels, size, kernel, stride, padding, act, isa):
    gen = torch.Generator().manual_seed(channels * size)
    w, b = torch.randn(channels, 1, kernel, kernel, generator=gen), torch.randn(channels)
    x = torch.randn(2, channels, size, size, generator=gen)
    ref = _depthwise_reference(x, w, b, stride, padding, act)
    out = DepthwiseConv(w, b, stride, padding, act, isa=isa)(x, threads=2)
    assert out.shape == ref.shape
    assert float((out - ref).abs().max() / ref.abs().max().clamp_min(1e-6)) <= 1e-6


@pytest.mark.parametrize("isa", kernels_c.available_isas())
def test_depthwise_kernel_equals_torch_on_generated_shapes(isa: str, count: int = 100) -> None:
    """``count`` random planes per ISA: non-square, every stride 1..4, kernels 1..7 (not only
    square), padding up to the kernel, widths that end mid-vector and mid-tile."""
    gen = torch.Generator().manual_seed(7)
    checked = 0
    while checked < count:
        kh, kw, stride = (int(v) for v in torch.randint(1, 8, (3,), generator=gen))
        stride = 1 + stride % 4
        pad = int(torch.randint(0, max(kh, kw), (1,), generator=gen))
        h, w = (int(v) for v in torch.randint(1, 90, (2,), generator=gen))
        if h + 2 * pad < kh or w + 2 * pad < kw:
            continue
        weight = torch.randn(3, 1, kh, kw, generator=gen)
        x = torch.randn(1, 3, h, w, generator=gen)
        ref = torch.nn.functional.conv2d(x, weight, None, stride, pad, 1, 3)
        out = DepthwiseConv(weight, None, stride, pad, "none", isa=isa)(x, threads=1)
        assert out.shape == ref.shape, (kh, kw, stride, pad, h, w)
        scale = float(ref.abs().max()) or 1.0
        assert float((out - ref).abs().max()) / scale <= 1e-5, (kh, kw, stride, pad, h, w)
        checked += 1


@pytest.mark.parametrize("stride, padding", [(0, 1), (65, 1), (1, -1), (1, 65)])
def test_depthwise_refuses_strides_and_paddings_out_of_range_when_built(stride, padding):
    with pytest.raises(ValueError, match=r"stride .* must be in 1\.\.64 and padding .* 0\.\.64"):
        DepthwiseConv(torch.randn(4, 1, 3, 3), None, stride, padding, "none")


def test_depthwise_c_validates_its_arguments():
    from kernels_c.api import _lib

    ffi, lib = _lib()
    err = ffi.new("char[]", 128)
    buf = torch.zeros(64)
    p = ffi.cast("float *", buf.data_ptr())
    isa = lib.SB_ISA_SCALAR
    assert lib.sb_depthwise_conv2d(ffi.NULL, p, ffi.NULL, p, 1, 1, 4, 4, 3, 3, 1, 1, 0, 1,
                                   isa, err, 128) == lib.SB_EINVAL
    assert lib.sb_depthwise_conv2d(p, p, ffi.NULL, p, 1, 1, 2, 2, 5, 5, 1, 0, 0, 1,
                                   isa, err, 128) == lib.SB_EINVAL
    assert b"smaller than the kernel" in ffi.string(err)
    assert lib.sb_depthwise_conv2d(p, p, ffi.NULL, p, 1, 1, 4, 4, 3, 3, 0, 1, 0, 1,
                                   isa, err, 128) == lib.SB_EINVAL
    assert lib.sb_depthwise_conv2d(p, p, ffi.NULL, p, 1, 1, 4, 4, 3, 3, 65, 1, 0, 1,
                                   isa, err, 128) == lib.SB_EINVAL
    assert b"stride must be <= 64" in ffi.string(err)
    assert lib.sb_depthwise_conv2d(p, p, ffi.NULL, p, 1, 1, 4, 4, 3, 3, 1, 1, 0, 1,
                                   lib.SB_ISAS, err, 128) == lib.SB_EISA
    assert b"isa" in ffi.string(err)
