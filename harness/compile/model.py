"""The compiled whole-model path for the C kernels: trace once (torch.fx), fold batch norm,
fuse each conv's residual add and ReLU / ReLU6 into its output, pack every weight once and
write every conv into a buffer allocated once per input shape, parts whose values are never
alive together sharing one storage (``buffers.share_buffers``). Our conv kernels apply the
epilogue in the last write of each output (``sb_conv2d``'s residual and act: no pass of its
own); the depthwise kernel fuses its activation, and what is left after it or after a torch
conv runs on the standalone C epilogue (``sb_epilogue``).

Activations stay in the kernels' own layout (contiguous NCHW float32) from the first conv
to the last. Depthwise convs run on our depthwise kernel (bias and activation fused);
convs no kernel of ours takes (grouped, non-square, dilated) run as torch convs with the
same fused epilogue; max and global average pooling run on our C
pooling; pruned linear layers (VGG's fully connected layers) run on our kernels as 1x1
convs, dense ones (the classifier) on torch's GEMM (``FusedLinear``); flatten / dropout stay
torch. The result is one ``nn.Module`` forward (fx-generated code); once the buffers are
fixed, ``CompiledModel`` runs that pass as one flat list of kernel calls (``replay.py``)
for inputs of the captured shape, and returns a new tensor either way.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from harness.backends import joined
from harness.compile.buffers import share_buffers
from harness.compile.fuse import (
    FusionCounts,
    count_torch_ops,
    fold_batch_norm,
    fuse_epilogues,
    replace_pooling,
)
from harness.compile.replay import Replay, capture


def _square(conv: nn.Conv2d) -> bool:
    return (conv.dilation == (1, 1) and conv.padding_mode == "zeros"
            and isinstance(conv.padding, tuple) and conv.stride[0] == conv.stride[1]
            and conv.padding[0] == conv.padding[1])


def _is_depthwise(conv: nn.Conv2d) -> bool:
    return conv.groups == conv.in_channels == conv.out_channels > 1


def _epilogue(y: torch.Tensor, residual: torch.Tensor | None, act: str, threads: int,
              ran: set[str]) -> torch.Tensor:
    """``y = act(y + residual)`` in place on the C epilogue when there is anything to do;
    its function joins ``ran``, the functions the layer ran."""
    from kernels_c.epilogue import FUNCTION, epilogue

    if residual is not None or act != "none":
        epilogue(y, None if residual is None else residual.contiguous(), act, threads)
        ran.add(FUNCTION)
    return y


class FusedConv(nn.Module):
    """conv (+ bias) [+ residual] [-> relu|relu6] into a buffer kept between calls.

    Runs on our sparse/dense kernel (groups = 1), our depthwise kernel (activation fused in
    it), or, for any other conv (grouped, dilated, non-square), torch's conv.
    """

    def __init__(self, conv: nn.Conv2d, pattern: Any, act: str, threads: int) -> None:
        super().__init__()
        import kernels_c
        from kernels_c.depthwise import DepthwiseConv

        self.act, self.threads = act, threads
        weight = conv.weight.detach().contiguous()
        bias = None if conv.bias is None else conv.bias.detach().contiguous()
        self.torch_conv = None
        self.post_act = act  # what the epilogue still has to apply
        self.fused_epilogue = False  # our conv kernel applies residual + act in its last write
        if _square(conv) and conv.groups == 1:
            self.kernel = kernels_c.prepare(weight, pattern=pattern, stride=conv.stride[0],
                                            padding=conv.padding[0], bias=bias)
            self.isa, self.fused_epilogue = self.kernel.isa, True
        elif _square(conv) and _is_depthwise(conv):
            self.kernel = DepthwiseConv(weight, bias, conv.stride[0], conv.padding[0], act)
            self.isa, self.post_act = self.kernel.kernel, "none"
        else:
            self.kernel, self.isa = None, "torch"
            self.torch_conv = (weight, bias, conv.stride, conv.padding, conv.dilation,
                               conv.groups)
        self._out: torch.Tensor | None = None
        self._bound_key: tuple | None = None  # the buffers self._bound was bound to
        self._bound: Any = None
        self.ran: set[str] = set()  # the separate epilogue's function, when its calls ran it
        self.replay_call: Any = None  # the last forward's call, rerunnable (replay.py)

    @property
    def functions(self) -> set[str]:
        """The functions this layer's calls ran: its conv kernel and the C epilogue."""
        conv = "torch.nn.functional.conv2d" if self.kernel is None else self.kernel.kernel_function
        return {conv, *self.ran}

    @property
    def layout(self) -> str | None:
        """The staging the sparse kernel ran (None for a depthwise or torch conv)."""
        return getattr(self.kernel, "layout", None)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        self.replay_call = None
        given_x, given_residual = x, residual
        x = x.contiguous()
        if self.kernel is None:
            y = F.conv2d(x, *self.torch_conv).contiguous()
            return _epilogue(y, residual, self.post_act, self.threads, self.ran)
        shape = self.kernel.out_shape(tuple(x.shape))
        if self._out is None or tuple(self._out.shape) != shape:
            self._out = torch.empty(shape, dtype=torch.float32)
        residual = None if residual is None else residual.contiguous()
        self._call(x, residual)
        # rerunnable on the same memory when no contiguous() copy was made and no separate
        # epilogue is left (the depthwise kernel fuses its activation, not a residual)
        if (x is given_x and residual is given_residual
                and (self.fused_epilogue or residual is None)):
            self.replay_call = self._bound
        if not self.fused_epilogue:  # the depthwise kernel: its activation is fused already
            return _epilogue(self._out, residual, self.post_act, self.threads, self.ran)
        return self._out

    def _call(self, x: torch.Tensor, residual: torch.Tensor | None) -> None:
        """The kernel's call into ``_out``: checked and bound the first time these buffers
        meet (``bind``), then rerun as bound; ~10 us of Python checks per call saved."""
        key = (x.data_ptr(), x.shape, self._out.data_ptr(),
               None if residual is None else (residual.data_ptr(), residual.shape))
        if key == self._bound_key:
            self._bound()
        elif self.fused_epilogue:
            self._bound = self.kernel.bind(x, self.threads, out=self._out, residual=residual,
                                           act=self.post_act)
        else:
            self._bound = self.kernel.bind(x, self.threads, out=self._out)
        self._bound_key = key


class FusedLinear(nn.Module):
    """A linear layer (+ bias) [+ residual] [-> relu|relu6]: a pruned one on our kernel as a
    1x1 conv over (N, in, 1, 1), packed in its pattern's format like a conv; a dense one on
    torch's GEMM. Our kernels vectorise along pixels and a linear layer has one per image,
    so a dense classifier on them ran 1 lane in 16: VGG-16's fc1 121.7 vs 35.2 ms, ResNet-50's
    fc 2.05 vs 0.20 ms (1 thread, Zen 4)."""

    def __init__(self, linear: nn.Linear, pattern: Any, act: str, threads: int) -> None:
        super().__init__()
        import kernels_c

        self.act, self.threads = act, threads
        weight = linear.weight.detach().contiguous()
        bias = None if linear.bias is None else linear.bias.detach().contiguous()
        self.torch_linear = None
        if pattern.name == "dense":
            self.kernel, self.isa, self.torch_linear = None, "torch", (weight, bias)
        else:
            self.kernel = kernels_c.prepare(weight.reshape(*weight.shape, 1, 1), pattern=pattern,
                                            bias=bias)
            self.isa = self.kernel.isa
        self._out: torch.Tensor | None = None
        self.ran: set[str] = set()  # the C epilogue, when a torch GEMM's output needed it
        self.replay_call: Any = None  # the last forward's call, rerunnable (replay.py)

    @property
    def functions(self) -> set[str]:
        if self.kernel is not None:
            return {self.kernel.kernel_function, *self.ran}
        gemm = "torch.mm" if self.torch_linear[1] is None else "torch.addmm"
        return {gemm, *self.ran}

    @property
    def layout(self) -> str | None:
        return getattr(self.kernel, "layout", None)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        self.replay_call = None
        n, features = x.shape
        if self.kernel is None:  # torch's GEMM, into a buffer kept between calls
            shape = (n, self.torch_linear[0].shape[0])
        else:
            shape = (n, self.kernel.packed.cout, 1, 1)
        if self._out is None or tuple(self._out.shape) != shape:
            self._out = torch.empty(shape, dtype=torch.float32)
        fixed = x.is_contiguous() and (residual is None or residual.is_contiguous())
        x, residual = x.contiguous(), None if residual is None else residual.contiguous()
        if self.kernel is None:
            call = functools.partial(self._torch_gemm, x, residual)
            call()
        else:
            call = self.kernel.bind(x.view(n, features, 1, 1), self.threads, out=self._out,
                                    residual=None if residual is None else residual.view(shape),
                                    act=self.act)
        if fixed:
            self.replay_call = call
        return self._out.view(n, -1)

    def _torch_gemm(self, x: torch.Tensor, residual: torch.Tensor | None) -> None:
        weight, bias = self.torch_linear
        if bias is None:
            torch.mm(x, weight.t(), out=self._out)
        else:
            torch.addmm(bias, x, weight.t(), out=self._out)
        _epilogue(self._out, residual, self.act, self.threads, self.ran)


class CPool(nn.Module):
    """Our C max pooling or global average pooling into a buffer kept between calls."""

    def __init__(self, kind: str, params: tuple[int, ...], threads: int) -> None:
        super().__init__()
        from kernels_c import pool

        self.kind, self.params, self.threads = kind, params, threads
        self.run = (functools.partial(pool.max_pool2d, kernel=params[0], stride=params[1],
                                      padding=params[2]) if kind == "max"
                    else pool.global_avg_pool)
        self.functions = {pool.MAX_POOL if kind == "max" else pool.GLOBAL_AVG_POOL}
        self.layout = None
        self._out: torch.Tensor | None = None
        self.replay_call: Any = None  # the last forward's call, rerunnable (replay.py)

    def _shape(self, x: torch.Tensor) -> tuple[int, int, int, int]:
        n, c, h, w = x.shape
        if self.kind != "max":
            return n, c, 1, 1
        k, s, p = self.params
        return n, c, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = self._shape(x)
        if self._out is None or tuple(self._out.shape) != shape:
            self._out = torch.empty(shape, dtype=torch.float32)
        call = functools.partial(self.run, x.contiguous(), threads=self.threads, out=self._out)
        self.replay_call = call if x.is_contiguous() else None
        return call()


def _fresh(out: Any) -> Any:
    """``out`` with every tensor in it copied out of the reused buffers."""
    if isinstance(out, tuple | list):
        return type(out)(_fresh(v) for v in out)
    return out.clone() if isinstance(out, torch.Tensor) else out


PARTS = (FusedConv, FusedLinear, CPool)
"""The modules of a compiled graph that run a kernel call of ours (or torch's GEMM)."""


class CompiledModel:
    """A PreparedModel: the fused graph module, called on NCHW float32 CPU input."""

    kernel = "c-compiled"
    precision = "fp32"

    def __init__(self, module: fx.GraphModule, note: str) -> None:
        self.module, self.note = module, note
        self.isa = ",".join(sorted({m.isa for m in module.modules()
                                    if isinstance(m, FusedConv | FusedLinear)}))
        self.replay: Replay | None = None  # the pass as one list of calls, for one shape

    def _parts(self) -> list[nn.Module]:
        return [m for m in self.module.modules() if isinstance(m, PARTS)]

    @property
    def kernel_function(self) -> str | None:
        """Every function the compiled parts ran (a sorted comma list)."""
        return joined(name for part in self._parts() for name in part.functions)

    @property
    def layout(self) -> str | None:
        """The stagings its sparse kernels ran (a sorted comma list)."""
        return joined(part.layout for part in self._parts())

    def capture(self, example: torch.Tensor) -> str:
        """Record the pass for ``example``'s shape as a replay (``replay.capture``); returns
        what the note says about it."""
        self.replay, reason = capture(self.module, example, PARTS)
        if self.replay is None:
            return f"forward in fx ({reason})"
        return f"forward replayed as {len(self.replay.calls)} kernel calls"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The output for ``x``, a new tensor. A float32 CPU input of the captured shape
        runs the replay; any other input runs the fx forward, whose checks refuse what the
        kernels cannot take, and a new shape is captured in turn (the fx forward
        reallocates the buffers for it)."""
        with torch.inference_mode():
            if (self.replay is not None and x.shape == self.replay.shape
                    and x.dtype == self.replay.input.dtype and x.device.type == "cpu"):
                return self.replay(x)
            out = _fresh(self.module(x))
        if self.replay is not None:  # the buffers it pointed into may be gone
            self.capture(x)
        return out


def compile_model(model: nn.Module, example: torch.Tensor, *, threads: int,
                  layer_patterns: dict[str, Any], dense_pattern: Any) -> CompiledModel:
    """``model`` (weights already masked; ``layer_patterns`` names each pruned conv's
    pattern, the others run ``dense_pattern``) compiled for the C kernels; the buffers for
    ``example``'s shape are allocated by one forward pass here."""
    gm = fx.symbolic_trace(copy.deepcopy(model).eval().cpu())
    counts = FusionCounts()
    fold_batch_norm(gm, counts)

    def make_layer(name: str, module: nn.Module, act: str, has_residual: bool) -> nn.Module:
        fused = FusedLinear if isinstance(module, nn.Linear) else FusedConv
        return fused(module, layer_patterns.get(name, dense_pattern), act, threads)

    fuse_epilogues(gm, make_layer, counts)
    replace_pooling(gm, lambda kind, params: CPool(kind, params, threads), counts)
    count_torch_ops(gm, (FusedConv, FusedLinear, CPool), counts)
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    compiled = CompiledModel(gm, counts.describe())
    compiled(example)  # allocates every buffer for this shape
    parts = sum(getattr(m, "_out", None) is not None for m in gm.modules())
    compiled.note += f"; {parts} output buffers in {share_buffers(gm)} shared storages"
    compiled.note += f"; {compiled.capture(example)}"
    return compiled
