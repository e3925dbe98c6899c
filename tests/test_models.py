"""Model zoo: registry contract, forward passes at native sizes, channels, seeding."""

import pytest
import torch
from torch import nn

from patterns import models

SMALL = ["resnet20", "resnet56", "vgg_small", "mobilenet_v2_small"]
IMAGENET = ["resnet18", "resnet50", "vgg16_bn", "mobilenet_v2"]


def _forward(model: nn.Module, batch: int, channels: int, size: int) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(torch.randn(batch, channels, size, size))


def _stem(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


def test_registry_lists_the_contract_models():
    assert sorted(models.available_models()) == sorted(SMALL + IMAGENET)


@pytest.mark.parametrize(
    ("name", "family", "size"),
    [
        ("resnet18", "resnet", 224),
        ("resnet50", "resnet", 224),
        ("vgg16_bn", "vgg", 224),
        ("mobilenet_v2", "mobilenet", 224),
        ("resnet20", "resnet", 32),
        ("resnet56", "resnet", 32),
        ("vgg_small", "vgg", 32),
        ("mobilenet_v2_small", "mobilenet", 32),
    ],
)
def test_model_info(name, family, size):
    assert models.model_info(name) == models.ModelInfo(name, family, size)


def test_unknown_model_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet19'") as err:
        models.create_model("resnet19")
    assert all(name in str(err.value) for name in SMALL + IMAGENET)
    with pytest.raises(ValueError, match="unknown model"):
        models.model_info("nope")


@pytest.mark.parametrize(("arg", "value"), [("num_classes", 0), ("in_channels", -1)])
def test_bad_sizes_are_rejected(arg, value):
    with pytest.raises(ValueError, match=arg):
        models.create_model("resnet20", **{arg: value})


@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", SMALL)
def test_small_model_forward(name, channels, size):
    model = models.create_model(name, num_classes=7, in_channels=channels)
    assert _stem(model).in_channels == channels
    out = _forward(model, 2, channels, size)
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_model_forward_reduced_size(name, channels):
    model = models.create_model(name, num_classes=5, in_channels=channels)
    assert _stem(model).in_channels == channels
    assert _forward(model, 1, channels, 64).shape == (1, 5)


def test_resnet18_at_224():
    model = models.create_model("resnet18", num_classes=1000)
    assert _forward(model, 1, 3, 224).shape == (1, 1000)


def test_small_model_trains_one_step():
    model = models.create_model("resnet20", in_channels=1)
    loss = nn.functional.cross_entropy(model(torch.randn(4, 1, 28, 28)), torch.arange(4))
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize(("name", "params"), [("resnet20", 0.27e6), ("resnet56", 0.85e6)])
def test_cifar_resnets_have_option_a_parameter_counts(name, params):
    """He et al. 2016 report 0.27 M / 0.85 M: only option-A (parameter-free) shortcuts fit."""
    model = models.create_model(name)
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - params) / params < 0.01
    assert all(m.kernel_size == (3, 3) for m in model.modules() if isinstance(m, nn.Conv2d))


def test_mobilenet_v2_small_keeps_resolution_early():
    """Early strides removed: 32 px reaches the last stage at 4 px (as 224 px reaches 7)."""
    model = models.create_model("mobilenet_v2_small").eval()
    assert _stem(model).stride == (1, 1)
    with torch.no_grad():
        assert model.features(torch.randn(1, 3, 32, 32)).shape[-2:] == (4, 4)


@pytest.mark.parametrize("name", ["resnet20", "mobilenet_v2_small", "resnet18"])
def test_creation_is_seedable(name):
    def weights(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return models.create_model(name, in_channels=1).state_dict()

    first, again, other = weights(0), weights(0), weights(1)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
