"""The convolution layers of a model with the input size each one sees.

``conv_layers`` runs one batch-1 forward pass with hooks on every ``nn.Conv2d`` and records
its shape and input height/width, so kernels can be benchmarked on a model's real layer
shapes without the model. Layers are listed in execution order; a conv the forward pass
never calls has no input size and is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ConvLayer:
    """One conv layer's shape; ``height``/``width`` are its input's spatial size."""

    name: str
    in_channels: int
    out_channels: int
    kernel_h: int
    kernel_w: int
    stride: int
    padding: int
    groups: int
    height: int
    width: int
    dilation: int = 1

    @property
    def kind(self) -> str:
        """'strided' (stride > 1 wins), '1x1', '3x3' or 'kxk'."""
        if self.stride > 1:
            return "strided"
        if (self.kernel_h, self.kernel_w) == (1, 1):
            return "1x1"
        if (self.kernel_h, self.kernel_w) == (3, 3):
            return "3x3"
        return "kxk"

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.out_channels, self.in_channels // self.groups, self.kernel_h,
                self.kernel_w)

    @property
    def out_height(self) -> int:
        return _out_size(self.height, self.kernel_h, self.stride, self.padding, self.dilation)

    @property
    def out_width(self) -> int:
        return _out_size(self.width, self.kernel_w, self.stride, self.padding, self.dilation)

    @property
    def is_depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels

    @property
    def is_stem(self) -> bool:
        """The layer policy's stem: it reads the image (1 or 3 channels)."""
        return self.in_channels in (1, 3)

    def flops(self, batch: int, density: float = 1.0) -> float:
        """2 x multiply-adds for ``batch`` images, scaled by the weight density."""
        macs = (self.out_channels * self.out_height * self.out_width
                * (self.in_channels // self.groups) * self.kernel_h * self.kernel_w)
        return 2.0 * batch * macs * density

    def describe(self) -> str:
        """E.g. ``256x1024 1x1 s1 @14x14``: Cout x Cin, kernel, stride, input size."""
        groups = f" g{self.groups}" if self.groups > 1 else ""
        return (f"{self.out_channels}x{self.in_channels} {self.kernel_h}x{self.kernel_w} "
                f"s{self.stride}{groups} @{self.height}x{self.width}")


def _out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _square(module_name: str, attr: str, value: object) -> int:
    if isinstance(value, str):
        raise ValueError(
            f"{module_name}: {attr}={value!r} is not supported; use an explicit integer {attr}"
        )
    first, second = value if isinstance(value, tuple) else (value, value)
    if first != second:
        raise ValueError(
            f"{module_name}: non-square {attr} {value} is not supported; use a square {attr}"
        )
    return int(first)


def conv_layers(model: nn.Module, input_size: int, in_channels: int = 3) -> list[ConvLayer]:
    """Every ``nn.Conv2d`` of ``model`` called by a batch-1 forward on a square image.

    The model runs in eval mode under ``torch.no_grad`` on a zero input of the model's own
    device and dtype; its training flag is restored afterwards.
    """
    import torch
    from torch import nn

    if input_size < 1 or in_channels < 1:
        raise ValueError(
            f"input_size={input_size}, in_channels={in_channels}: both must be positive"
        )
    found: dict[str, ConvLayer] = {}
    names = {module: name for name, module in model.named_modules()}

    def record(module: nn.Conv2d, inputs: tuple) -> None:
        name = names[module]
        if name in found:  # a conv called twice keeps its first input size
            return
        height, width = inputs[0].shape[-2:]
        found[name] = ConvLayer(
            name=name,
            in_channels=module.in_channels,
            out_channels=module.out_channels,
            kernel_h=module.kernel_size[0],
            kernel_w=module.kernel_size[1],
            stride=_square(name, "stride", module.stride),
            padding=_square(name, "padding", module.padding),
            groups=module.groups,
            height=int(height),
            width=int(width),
            dilation=_square(name, "dilation", module.dilation),
        )

    handles = [m.register_forward_pre_hook(record) for m in model.modules()
               if isinstance(m, nn.Conv2d)]
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, in_channels, input_size, input_size, device=device,
                              dtype=dtype))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return list(found.values())


def prunable_layers(model: nn.Module, input_size: int, in_channels: int = 3) -> list[ConvLayer]:
    """The convs of ``model`` the layer policy lets a pattern prune (``patterns.policy``:
    not the stem, not depthwise; grouped convs are prunable), in execution order."""
    from patterns.policy import prunable

    names = set(prunable(model))
    return [layer for layer in conv_layers(model, input_size, in_channels)
            if layer.name in names]


def zoo_prunable_layers(model_name: str) -> list[ConvLayer]:
    """``prunable_layers`` of zoo model ``model_name`` at its own (ImageNet) input shape:
    the layer list of the sweep's shape models, ``sparsebench kernels`` and asv."""
    from patterns import models

    info = models.model_info(model_name)
    return prunable_layers(models.create_model(model_name), info.input_size)
