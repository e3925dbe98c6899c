"""The compiled whole-model C path (c_compiled): equal to torch (relative error <= 1e-4 after
batch-norm folding) on every zoo model, dense and masked; what it fuses; the C epilogue."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import fx, nn

import kernels_c
import patterns
from harness.compile.fuse import FusionCounts, fold_batch_norm
from harness.compile.model import FusedConv, compile_model
from harness.model_bench import randomize_batch_norm
from kernels_c.epilogue import epilogue
from patterns import models

TOLERANCE = 1e-4
SMALL_IMAGE = 32  # the ImageNet models at 32 px: every layer kind, a fraction of the time


def _masked_model(name: str, pattern_name: str | None) -> tuple[nn.Module, dict]:
    torch.manual_seed(0)
    model = randomize_batch_norm(models.create_model(name, num_classes=100)).eval()
    if pattern_name is None:
        return model, {}
    pattern = patterns.nearest_level(pattern_name, 0.75)
    plan = patterns.apply(model, pattern)
    with torch.no_grad():
        for layer, mask in plan.masks.items():
            model.get_submodule(layer).weight.mul_(mask)
    return model, dict.fromkeys(plan.masks, pattern)


def _rel_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.double() - ref).abs().max() / ref.abs().max())


# every zoo model dense and masked; nm (its own packed format) on the 32 px models, where
# masking is cheap
CASES = [(name, pattern) for name in models.available_models()
         for pattern in (None, "unstructured")]
CASES += [(name, "nm") for name in models.available_models()
          if models.model_info(name).input_size <= SMALL_IMAGE]


@pytest.mark.parametrize("name, pattern_name", CASES)
def test_compiled_model_equals_torch(name, pattern_name):
    model, layer_patterns = _masked_model(name, pattern_name)
    size = min(models.model_info(name).input_size, SMALL_IMAGE)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        reference = copy.deepcopy(model).double()(x.double())
    compiled = compile_model(model, x, threads=2, layer_patterns=layer_patterns,
                             dense_pattern=patterns.make("dense"))
    assert _rel_error(compiled(x), reference) <= TOLERANCE
    again = torch.randn_like(x)  # buffers reused: a second input gives its own answer
    with torch.inference_mode():
        assert _rel_error(compiled(again), copy.deepcopy(model).double()(again.double())) \
            <= TOLERANCE
    fused = [m for m in compiled.module.modules() if isinstance(m, FusedConv)]
    assert len(fused) == sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in compiled.module.modules())


def test_resnet50_fuses_every_bn_relu_and_residual_and_packs_masks():
    model, layer_patterns = _masked_model("resnet50", "unstructured")
    x = torch.randn(1, 3, SMALL_IMAGE, SMALL_IMAGE)
    compiled = compile_model(model, x, threads=1, layer_patterns=layer_patterns,
                             dense_pattern=patterns.make("dense"))
    assert compiled.note == ("53 convs + 1 linears fused (53 BN folded, 49 activations, "
                             "16 residual adds), 2 pooling in C; torch: flatten x1; "
                             "56 output buffers in 3 shared storages; "
                             "forward replayed as 56 kernel calls")
    fused = {m.kernel.pattern.name for m in compiled.module.modules()
             if isinstance(m, FusedConv)}
    assert fused == {"unstructured", "dense"}  # stem and policy-kept layers dense
    buffers = [m._out.data_ptr() for m in compiled.module.modules() if isinstance(m, FusedConv)]
    compiled(x)
    assert buffers == [m._out.data_ptr() for m in compiled.module.modules()
                       if isinstance(m, FusedConv)]  # no new output buffers per call


def test_mobilenet_depthwise_convs_run_on_our_depthwise_kernel():
    model, _ = _masked_model("mobilenet_v2_small", None)
    x = torch.randn(1, 3, 32, 32)
    compiled = compile_model(model, x, threads=1, layer_patterns={},
                             dense_pattern=patterns.make("dense"))
    isas = {m.isa for m in compiled.module.modules() if isinstance(m, FusedConv)}
    assert f"depthwise-{kernels_c.available_isas()[0]}" in isas and "torch" not in isas
    assert "10 residual adds" in compiled.note


@pytest.mark.parametrize("size, kernel, stride, padding", [
    (112, 3, 2, 1), (14, 2, 2, 0), (7, 3, 1, 1), (9, 3, 3, 0), (5, 5, 2, 2)])
def test_c_pooling_equals_torch(size, kernel, stride, padding):
    from kernels_c.pool import global_avg_pool, max_pool2d

    x = torch.randn(2, 6, size, size, generator=torch.Generator().manual_seed(size))
    assert torch.equal(max_pool2d(x, kernel, stride, padding, threads=2),
                       torch.nn.functional.max_pool2d(x, kernel, stride, padding))
    mean = torch.nn.functional.adaptive_avg_pool2d(x, 1)
    assert torch.allclose(global_avg_pool(x, threads=2), mean, rtol=1e-5, atol=1e-6)


def test_c_max_pooling_propagates_nan_like_torch():
    from kernels_c.pool import max_pool2d

    x = torch.randn(1, 3, 11, 11, generator=torch.Generator().manual_seed(3))
    x[0, 1, 4, 5] = x[0, 2, 0, 0] = float("nan")
    ours, ref = max_pool2d(x, 3, 2, 1, threads=1), torch.nn.functional.max_pool2d(x, 3, 2, 1)
    assert torch.equal(ours.isnan(), ref.isnan()) and ours.isnan().sum() >= 2
    assert torch.equal(ours.nan_to_num(), ref.nan_to_num())


def test_c_pooling_validates_its_arguments():
    from kernels_c.api import _lib
    from kernels_c.pool import max_pool2d

    ffi, lib = _lib()
    err = ffi.new("char[]", 128)
    buf = torch.zeros(64)
    p = ffi.cast("float *", buf.data_ptr())
    assert lib.sb_maxpool2d(p, p, 1, 1, 4, 4, 3, 2, 2, 1, err, 128) == lib.SB_EINVAL  # pad > k/2
    assert lib.sb_maxpool2d(ffi.NULL, p, 1, 1, 4, 4, 3, 2, 1, 1, err, 128) == lib.SB_EINVAL
    assert lib.sb_global_avgpool(p, p, 0, 1, 4, 4, 1, err, 128) == lib.SB_EINVAL
    assert lib.sb_maxpool2d(p, p, 1, 1, 4, 40000, 3, 2, 1, 1, err, 128) == lib.SB_EINVAL
    assert b"<= 32768" in ffi.string(err)
    with pytest.raises(ValueError, match="out must be"):
        max_pool2d(torch.zeros(1, 1, 4, 4), 2, 2, 0, out=torch.zeros(1, 1, 3, 3))


def test_batch_norm_folding_keeps_zero_weights_zero():
    conv = nn.Conv2d(4, 8, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight[:, :2] = 0
    model = randomize_batch_norm(nn.Sequential(conv, nn.BatchNorm2d(8))).eval()
    gm = fx.symbolic_trace(copy.deepcopy(model))
    counts = FusionCounts()
    fold_batch_norm(gm, counts)
    gm.recompile()
    folded = gm.get_submodule("0")
    assert counts.batch_norms_folded == 1 and folded.bias is not None
    assert (folded.weight[:, :2] == 0).all()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        assert torch.allclose(gm(x), model(x), atol=1e-5)


def test_a_bn_after_a_conv_with_two_users_is_not_folded():
    class TwoUsers(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    gm = fx.symbolic_trace(TwoUsers().eval())
    counts = FusionCounts()
    fold_batch_norm(gm, counts)
    assert counts.batch_norms_folded == 0


def test_epilogue_adds_and_clamps_in_place():
    y, r = torch.randn(2, 3, 5, 7), torch.randn(2, 3, 5, 7) * 8
    expected = (y + r).clamp(0, 6)
    out = epilogue(y, r, "relu6", threads=2)
    assert out.data_ptr() == y.data_ptr() and torch.equal(out, expected)
    z = torch.randn(10_000)
    assert torch.equal(epilogue(z.clone(), None, "relu", 2), z.relu())


@pytest.mark.parametrize("kwargs, message", [
    ({"act": "gelu"}, "act must be one of"),
    ({"residual": torch.zeros(3)}, "residual must be a contiguous"),
    ({"threads": 0}, "threads"),
])
def test_epilogue_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        epilogue(torch.zeros(2, 3), **kwargs)


def test_c_epilogue_validates_its_arguments():
    from kernels_c.api import _lib

    ffi, lib = _lib()
    err = ffi.new("char[]", 128)
    y = torch.zeros(4)
    ptr = ffi.cast("float *", y.data_ptr())
    assert lib.sb_epilogue(ffi.NULL, ffi.NULL, 4, 1, 1, err, 128) == lib.SB_EINVAL
    assert b"NULL" in ffi.string(err)
    assert lib.sb_epilogue(ptr, ffi.NULL, -1, 1, 1, err, 128) == lib.SB_EINVAL
    assert lib.sb_epilogue(ptr, ffi.NULL, 4, 7, 1, err, 128) == lib.SB_EINVAL
    assert lib.sb_epilogue(ptr, ffi.NULL, 4, 1, 0, err, 128) == lib.SB_EINVAL


@pytest.mark.parametrize("pattern_name", ["dense", "unstructured"])
def test_linear_layers_run_dense_on_torch_gemm_and_pruned_on_our_kernel(pattern_name):
    """A dense linear layer runs torch's GEMM (our kernels would use one lane per image), a
    pruned one our sparse kernel; both with the fused ReLU, equal to torch."""
    from harness.compile.model import FusedLinear

    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10)).eval()
    pattern = patterns.make("dense") if pattern_name == "dense" else patterns.make(
        "unstructured", sparsity=0.75)
    layer_patterns = {}
    if pattern_name != "dense":
        with torch.no_grad():
            for name in ("1", "3"):
                layer = model.get_submodule(name)
                layer.weight.mul_(pattern.mask(layer.weight.reshape(*layer.weight.shape, 1, 1))
                                  .reshape(layer.weight.shape))
                layer_patterns[name] = pattern
    x = torch.randn(2, 4, 4, 4)
    compiled = compile_model(model, x, threads=1, layer_patterns=layer_patterns,
                             dense_pattern=patterns.make("dense"))
    with torch.inference_mode():
        assert _rel_error(compiled(x), model.double()(x.double())) <= TOLERANCE
    linears = [m for m in compiled.module.modules() if isinstance(m, FusedLinear)]
    assert len(linears) == 2
    functions = set().union(*(m.functions for m in linears))
    if pattern_name == "dense":
        assert functions == {"torch.addmm", "sb_epilogue"}
    else:
        assert all(m.isa != "torch" for m in linears)
        assert not functions & {"torch.addmm", "torch.mm"}
