"""``patterns.apply``: the layer policy on real torchvision models, and the per-layer table."""

import math

import pytest
import torch
import torchvision
from torch import nn

import patterns


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None)


@pytest.fixture(scope="module")
def nm_plan(resnet18):
    return patterns.apply(resnet18, patterns.make("nm", n=2, m=4))


def records(plan):
    return {r.name: r for r in plan.table}


def test_default_policy_keeps_stem_and_classifier_dense(resnet18, nm_plan):
    plan = nm_plan
    table = records(plan)
    layers = [n for n, m in resnet18.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert [r.name for r in plan.table] == layers
    assert table["conv1"].pruned is False and "stem" in table["conv1"].reason
    assert table["fc"].pruned is False and "classifier" in table["fc"].reason
    assert table["fc"].kind == "linear" and table["conv1"].kind == "conv"
    assert table["conv1"].density == 1.0
    pruned = [r for r in plan.table if r.pruned]
    assert len(pruned) == len(layers) - 2
    assert set(plan.masks) == {r.name for r in pruned}
    modules = dict(resnet18.named_modules())
    for r in pruned:
        mask = plan.masks[r.name]
        assert r.reason == "" and r.density == 0.5
        assert mask.shape == modules[r.name].weight.shape == r.shape
        patterns.make("nm", n=2, m=4).validate(mask)
    assert plan.density == 0.5
    assert plan.pattern == "nm(2:4)"


def test_layers_the_pattern_cannot_take_stay_dense_with_the_reason(resnet18):
    plan = patterns.apply(resnet18, patterns.make("nm", n=1, m=128))
    table = records(plan)
    for name, module in resnet18.named_modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == 64:
            assert table[name].pruned is False
            assert "Cin=64" in table[name].reason and "m=128" in table[name].reason
            assert name not in plan.masks
    assert table["layer2.0.downsample.0"].pruned is False
    assert table["layer3.0.conv1"].pruned is True
    assert table["layer3.0.conv1"].density == pytest.approx(1 / 128)


def test_policy_flags_can_prune_stem_and_classifier(resnet18):
    policy = patterns.LayerPolicy(dense_stem=False, dense_classifier=False)
    plan = patterns.apply(resnet18, patterns.make("filter", sparsity=0.5), policy)
    table = records(plan)
    assert table["conv1"].pruned and table["fc"].pruned
    assert all(r.pruned and r.density == 0.5 for r in plan.table)


def test_shape_reason_is_recorded_when_the_policy_allows_a_layer():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 1), nn.Flatten(), nn.Linear(8, 4))
    policy = patterns.LayerPolicy(dense_stem=False)
    table = records(patterns.apply(model, patterns.make("nm"), policy))
    assert not table["0"].pruned and "Cin=3" in table["0"].reason and "m=4" in table["0"].reason
    assert table["1"].pruned and table["1"].reason == ""
    assert "classifier" in table["3"].reason


def test_global_scope_spans_all_pruned_layers(resnet18):
    plan = patterns.apply(resnet18, patterns.make("unstructured", sparsity=0.8, scope="global"))
    total = sum(math.prod(r.shape) for r in plan.table if r.pruned)
    kept = sum(int(m.sum()) for m in plan.masks.values())
    assert kept == math.floor(0.2 * total + 0.5)
    densities = {round(r.density, 3) for r in plan.table if r.pruned}
    assert len(densities) > 1  # one threshold: per-layer densities differ


def test_dense_pattern_records_every_layer_unpruned(resnet18):
    plan = patterns.apply(resnet18, patterns.make("dense"))
    assert plan.masks == {}
    assert all(not r.pruned and r.reason and r.density == 1.0 for r in plan.table)
    assert plan.density == 1.0


def test_depthwise_convs_stay_dense():
    model = torchvision.models.mobilenet_v2(weights=None)
    plan = patterns.apply(model, patterns.make("cs", k=4))
    depthwise = [
        name for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d) and m.groups == m.in_channels > 1
    ]
    table = records(plan)
    assert depthwise
    for name in depthwise:
        assert not table[name].pruned and "depthwise" in table[name].reason
    assert table["classifier.1"].reason.startswith("policy: final classifier")
    assert any(r.pruned for r in plan.table)
    for mask in plan.masks.values():
        patterns.make("cs", k=4).validate(mask)
