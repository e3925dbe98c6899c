"""The model zoo: one decorator-based registry of the CNNs sparsebench prunes, trains and times.

Two sizes per family (ResNet, VGG, MobileNet): torchvision's ImageNet models at 224 px, and
small-input variants for 28/32 px images (Fashion-MNIST, CIFAR) that train on a CPU.
Every builder honours ``num_classes`` and ``in_channels`` (1 for grey images, 3 for colour),
and draws its weights from torch's global RNG, so ``torch.manual_seed`` makes creation
reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torchvision.models as tvm
from torch import nn

from sparsebench.registry import Registry

Family = Literal["resnet", "vgg", "mobilenet"]
Builder = Callable[[int, int], nn.Module]  # (num_classes, in_channels) -> model


@dataclass(frozen=True)
class ModelInfo:
    """What a caller needs to feed a model: its family and the image size it was made for."""

    name: str
    family: Family
    input_size: int  # 224 for the ImageNet models; 32 for the small ones (28 works too)


@dataclass(frozen=True)
class _Entry:
    info: ModelInfo
    build: Builder


MODELS: Registry[str, _Entry] = Registry("model")


def register(name: str, *, family: Family, input_size: int) -> Callable[[Builder], Builder]:
    """Decorator adding ``build(num_classes, in_channels) -> nn.Module`` to the zoo as ``name``."""
    info = ModelInfo(name, family, input_size)
    return MODELS.register(name, entry=lambda build: _Entry(info, build))


def available_models() -> list[str]:
    """Names accepted by :func:`create_model`, in registration order."""
    return list(MODELS)


def model_info(name: str) -> ModelInfo:
    """Family and native input size of model ``name`` (ValueError for an unknown name)."""
    return MODELS[name].info


def create_model(name: str, *, num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """Build a freshly initialised model (no pretrained weights) for the given classes/channels."""
    entry = MODELS[name]
    for arg, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be a positive integer, got {value!r}")
    return entry.build(num_classes, in_channels)


def _replace_stem(model: nn.Module, in_channels: int, stride: int | None = None) -> nn.Module:
    """Swap the model's first conv for one taking ``in_channels`` (and ``stride``, if given).

    Only rebuilds when something changes, so a 3-channel torchvision model keeps the exact
    weights torchvision initialised.
    """
    name, conv = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    new_stride = conv.stride if stride is None else (stride, stride)
    if conv.in_channels == in_channels and conv.stride == new_stride:
        return model
    stem = nn.Conv2d(
        in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=new_stride,
        padding=conv.padding,
        bias=conv.bias is not None,
    )
    nn.init.kaiming_normal_(stem.weight, mode="fan_out", nonlinearity="relu")
    if stem.bias is not None:
        nn.init.zeros_(stem.bias)
    parent_name, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent_name), attr, stem)
    return model


# --- torchvision ImageNet models (224 px) ----------------------------------------------------


def _torchvision(name: str, family: Family) -> None:
    """Register torchvision's ``name`` (no pretrained weights) with its stem fitted to the
    input channels."""
    build_tv = getattr(tvm, name)

    def build(num_classes: int, in_channels: int) -> nn.Module:
        return _replace_stem(build_tv(weights=None, num_classes=num_classes), in_channels)

    register(name, family=family, input_size=224)(build)


for _name, _family in (("resnet18", "resnet"), ("resnet50", "resnet"), ("vgg16_bn", "vgg"),
                       ("mobilenet_v2", "mobilenet")):
    _torchvision(_name, _family)


# --- CIFAR-style ResNet (He et al. 2016, section 4.2) ----------------------------------------


class _ShortcutA(nn.Module):
    """Option-A shortcut: subsample by 2 and zero-pad the new channels (no parameters)."""

    def __init__(self, extra_channels: int) -> None:
        super().__init__()
        self.extra = extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::2, ::2]
        return nn.functional.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class _BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with an identity (or option-A) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _ShortcutA(cout - cin) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for small images: 16-32-64 channels, 3 stages of n basic blocks.

    Shortcuts are option A (parameter-free), as in the paper's CIFAR experiments, so
    resnet20 has 0.27 M and resnet56 0.85 M parameters. Works at 28 and 32 px.
    """

    def __init__(self, blocks_per_stage: int, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        stages, cin = [], 16
        for i, cout in enumerate((16, 32, 64)):
            for b in range(blocks_per_stage):
                stages.append(_BasicBlock(cin, cout, stride=2 if i > 0 and b == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def _init_weights(model: nn.Module) -> None:
    """He-normal convs, unit BN, small-normal linear: the init torchvision's ResNets use."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


@register("resnet20", family="resnet", input_size=32)
def _resnet20(num_classes: int, in_channels: int) -> nn.Module:
    return CifarResNet(3, num_classes, in_channels)


@register("resnet56", family="resnet", input_size=32)
def _resnet56(num_classes: int, in_channels: int) -> nn.Module:
    return CifarResNet(9, num_classes, in_channels)


# --- small VGG -------------------------------------------------------------------------------


class SmallVGG(nn.Module):
    """VGG-style net for 28/32 px: three stages of two 3×3 conv-BN-ReLU (32-64-128 channels),
    each followed by 2×2 max-pooling, then global average pooling and one linear classifier.

    The widths keep it near ResNet-20's cost (about 60 MFLOPs at 28 px) so the quick sweep
    trains all three families on 2 CPU cores; every conv after the stem still has Cin a
    multiple of 16, so every pattern level applies."""

    def __init__(
        self, num_classes: int, in_channels: int, widths: tuple[int, ...] = (32, 64, 128)
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for width in widths:
            for _ in range(2):
                layers += [
                    nn.Conv2d(cin, width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                cin = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cin, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


@register("vgg_small", family="vgg", input_size=32)
def _vgg_small(num_classes: int, in_channels: int) -> nn.Module:
    return SmallVGG(num_classes, in_channels)


# --- small MobileNetV2 -----------------------------------------------------------------------

# torchvision's setting [expansion t, channels c, repeats n, stride s] with the stem stride and
# the first strided stage (24 channels) set to 1: 32 px -> 4 px at the last stage, as 224 -> 7.
_SMALL_MOBILENET_SETTING = [
    [1, 16, 1, 1],
    [6, 24, 2, 1],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
]
SMALL_MOBILENET_WIDTH = 0.5  # halves every block's channels so it trains in minutes on a CPU


@register("mobilenet_v2_small", family="mobilenet", input_size=32)
def _mobilenet_v2_small(num_classes: int, in_channels: int) -> nn.Module:
    model = tvm.MobileNetV2(
        num_classes=num_classes,
        width_mult=SMALL_MOBILENET_WIDTH,
        inverted_residual_setting=_SMALL_MOBILENET_SETTING,
    )
    return _replace_stem(model, in_channels, stride=1)
