"""harness.layers: conv shapes and input sizes recorded from a real forward pass."""

import pytest
import torch
from torch import nn

from harness.kernel_bench import REPRESENTATIVE_LAYERS
from harness.layers import ConvLayer, conv_layers, zoo_prunable_layers
from patterns.models import create_model


@pytest.fixture(scope="module")
def resnet50_layers():
    return conv_layers(create_model("resnet50"), 224)


def test_resnet50_has_53_convs_with_imagenet_shapes(resnet50_layers):
    layers = {layer.name: layer for layer in resnet50_layers}
    assert len(resnet50_layers) == 53
    assert resnet50_layers[0].name == "conv1"
    stem = layers["conv1"]
    assert (stem.in_channels, stem.out_channels, stem.kernel_h, stem.stride, stem.padding,
            stem.height) == (3, 64, 7, 2, 3, 224)
    assert stem.kind == "strided" and stem.is_stem
    assert layers["layer1.0.conv1"].height == 56  # after the stem and the max-pool
    conv = layers["layer3.1.conv2"]
    assert (conv.in_channels, conv.out_channels, conv.kernel_h, conv.kernel_w, conv.height,
            conv.width, conv.kind) == (256, 256, 3, 3, 14, 14, "3x3")
    down = layers["layer4.0.downsample.0"]
    assert (down.in_channels, down.out_channels, down.stride, down.height, down.kind) == (
        1024, 2048, 2, 14, "strided")
    assert layers["layer4.2.conv3"].kind == "1x1"
    # the whole network's convs: 4.09 GMACs at 224 px, batch 1
    assert sum(layer.flops(1) for layer in resnet50_layers) == pytest.approx(8.17e9, rel=0.01)


def test_representative_layers_and_the_layer_policy(resnet50_layers):
    """asv's fixed layer shapes are the models' own; the policy skips stems and depthwise."""
    by_name = {f"resnet50:{layer.name}": layer for layer in resnet50_layers}
    mobilenet = conv_layers(create_model("mobilenet_v2"), 224)
    by_name |= {f"mobilenet_v2:{layer.name}": layer for layer in mobilenet}
    for key, layer in REPRESENTATIVE_LAYERS.items():
        assert by_name[key] == layer
    prunable = zoo_prunable_layers("mobilenet_v2")
    assert len(prunable) == 34 and not any(x.is_stem or x.is_depthwise for x in prunable)
    assert len(zoo_prunable_layers("resnet50")) == 52


def test_flops_and_output_size_follow_the_conv_formula():
    layer = ConvLayer("c", 64, 128, 3, 3, stride=2, padding=1, groups=1, height=57, width=31)
    out = nn.Conv2d(64, 128, 3, stride=2, padding=1)(torch.zeros(1, 64, 57, 31)).shape
    assert (layer.out_height, layer.out_width) == tuple(out[-2:])
    assert layer.flops(2, density=0.25) == 2 * 2 * 128 * 29 * 16 * 64 * 9 * 0.25


def test_grouped_convs_and_training_flag():
    model = create_model("mobilenet_v2")
    model.train()
    layers = conv_layers(model, 224)
    assert model.training
    depthwise = [layer for layer in layers if layer.is_depthwise]
    assert depthwise and all(layer.weight_shape[1] == 1 for layer in depthwise)
    assert {layer.kind for layer in layers} == {"strided", "1x1", "3x3"}


def test_non_square_stride_is_rejected():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=(1, 2)))
    with pytest.raises(ValueError, match="stride"):
        conv_layers(model, 16)
