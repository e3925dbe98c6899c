"""Registry, parameters, bad-input messages and discrete levels of ``patterns``."""

import json

import pytest
import torch

import patterns


def test_available_lists_every_pattern_in_canonical_order():
    assert patterns.available() == ["dense", "unstructured", "nm", "block", "cs", "filter"]


@pytest.mark.parametrize(
    ("name", "params", "canonical", "density", "described"),
    [
        ("dense", {}, {}, 1.0, "dense"),
        ("unstructured", {"sparsity": 0.75}, {"sparsity": 0.75, "scope": "layer"}, 0.25,
         "unstructured(75%,layer)"),
        ("nm", {}, {"n": 2, "m": 4}, 0.5, "nm(2:4)"),
        ("nm", {"n": 2, "m": 8}, {"n": 2, "m": 8}, 0.25, "nm(2:8)"),
        ("block", {"n": 16, "sparsity": 0.75},
         {"n": 16, "sparsity": 0.75, "balance": "uniform", "criterion": "l1",
          "rearrange": False}, 0.25, "block(1x16,75%,uniform,l1)"),
        ("cs", {"k": 4}, {"k": 4, "d": None}, 0.25, "cs(k=4,d=Cin/k)"),
        ("cs", {"k": 4, "d": 16}, {"k": 4, "d": 16}, 0.25, "cs(k=4,d=16)"),
        ("filter", {"sparsity": 0.5}, {"sparsity": 0.5}, 0.5, "filter(50%)"),
    ],
)
def test_make_fills_defaults_and_describes(name, params, canonical, density, described):
    p = patterns.make(name, **params)
    assert p.name == name
    assert p.params == canonical
    assert json.loads(json.dumps(p.params)) == canonical
    assert p.nominal_density == pytest.approx(density)
    assert p.describe() == described
    assert p == patterns.make(name, **canonical)
    p.params["extra"] = 1  # params is a copy: the pattern stays unchanged
    assert p.params == canonical


@pytest.mark.parametrize(
    ("name", "params", "words"),
    [
        ("bogus", {}, ["'bogus'", "dense, unstructured, nm, block, cs, filter"]),
        ("nm", {"k": 2}, ["'k'", "valid parameters: n, m"]),
        ("nm", {"n": 4, "m": 4}, ["n < m", "n=4", "m=4"]),
        ("nm", {"n": 0, "m": 4}, ["n", ">= 1"]),
        ("nm", {"n": 1.5, "m": 4}, ["parameter n", "integer"]),
        ("nm", {"n": True, "m": 4}, ["parameter n", "integer"]),
        ("unstructured", {}, ["needs parameter 'sparsity'"]),
        ("unstructured", {"sparsity": 1.0}, ["sparsity", "[0, 1)"]),
        ("unstructured", {"sparsity": -0.1}, ["sparsity", "[0, 1)"]),
        ("unstructured", {"sparsity": 75}, ["sparsity", "sparsity=0.75"]),
        ("unstructured", {"sparsity": 0.5, "scope": "model"}, ["scope", "layer, global"]),
        ("block", {"sparsity": 0.5, "balance": "rows"}, ["balance", "uniform, global"]),
        ("block", {"sparsity": 0.5, "criterion": "l3"}, ["criterion", "l1, l2, bpar"]),
        ("block", {"sparsity": 0.5, "n": 0}, ["parameter n", ">= 1"]),
        ("cs", {"k": 1}, ["parameter k", ">= 2"]),
        ("cs", {"k": 4, "d": 0}, ["parameter d", ">= 1"]),
        ("filter", {"sparsity": 1}, ["sparsity", "[0, 1)"]),
        ("dense", {"sparsity": 0.5}, ["'sparsity'", "valid parameters: none"]),
    ],
)
def test_bad_parameters_raise_one_line_value_errors(name, params, words):
    with pytest.raises(ValueError) as error:
        patterns.make(name, **params)
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("pattern", "shape", "words"),
    [
        (patterns.make("nm"), (8, 6, 3, 3), ["Cin=6", "m=4"]),
        (patterns.make("nm"), (8, 6), ["Cin=6", "m=4"]),
        (patterns.make("cs", k=4), (8, 6, 1, 1), ["Cin=6", "k=4"]),
        (patterns.make("cs", k=2, d=4), (8, 12, 1, 1), ["Cin=12", "k*d=8"]),
        (patterns.make("block", n=4, sparsity=0.5), (6, 8, 3, 3), ["Cout=6", "n=4"]),
        (patterns.make("unstructured", sparsity=0.5), (8, 8, 3), ["2-D", "4-D", "(8, 8, 3)"]),
        (patterns.make("filter", sparsity=0.5), (8,), ["2-D", "4-D"]),
        (patterns.make("dense"), (0, 8), ["empty"]),
    ],
)
def test_shapes_a_pattern_cannot_take_are_reported(pattern, shape, words):
    reason = pattern.check_shape(shape)
    assert reason is not None
    with pytest.raises(ValueError) as error:
        pattern.mask(torch.randn(shape))
    assert str(error.value) == reason
    assert "\n" not in reason
    for word in words:
        assert word in reason


def test_non_finite_weights_are_rejected():
    w = torch.randn(4, 8)
    w[1, 2] = float("nan")
    for p in (patterns.make("nm"), patterns.make("unstructured", sparsity=0.5, scope="global")):
        with pytest.raises(ValueError, match="NaN"):
            p.mask_many({"a": w})


def test_check_shape_accepts_shapes_that_fit():
    assert patterns.make("nm").check_shape((8, 16, 3, 3)) is None
    assert patterns.make("cs", k=2, d=4).check_shape((8, 16)) is None
    assert patterns.make("block", n=4, sparsity=0.5).check_shape((8, 3, 7, 7)) is None


def test_validate_rejects_non_bool_and_non_tensor_masks():
    p = patterns.make("nm")
    with pytest.raises(ValueError, match="torch.bool"):
        p.validate(torch.ones(4, 4))
    with pytest.raises(ValueError, match="torch.Tensor"):
        p.validate([[True] * 4])
    with pytest.raises(ValueError, match="Cin=3"):
        p.validate(torch.ones(4, 3, dtype=torch.bool))


def test_cs_distance_resolves_default_and_explicit_d():
    assert patterns.make("cs", k=4).distance(64) == 16
    assert patterns.make("cs", k=4, d=2).distance(64) == 2
    with pytest.raises(ValueError, match="Cin=10"):
        patterns.make("cs", k=4).distance(10)


@pytest.mark.parametrize(
    ("name", "sparsity", "fixed", "expected"),
    [
        ("nm", 0.5, {}, {"n": 2, "m": 4}),
        ("nm", 0.75, {}, {"n": 1, "m": 4}),
        ("nm", 0.875, {}, {"n": 1, "m": 8}),
        ("nm", 0.9375, {}, {"n": 1, "m": 16}),
        ("nm", 0.1, {}, {"n": 2, "m": 4}),
        ("nm", 0.99, {}, {"n": 1, "m": 16}),
        ("nm", 0.625, {}, {"n": 2, "m": 4}),  # equidistant: the denser level
        ("nm", 0.75, {"m": 8}, {"n": 2, "m": 8}),
        ("nm", 0.5, {"m": 8}, {"n": 4, "m": 8}),
        ("nm", 0.875, {"n": 2}, {"n": 2, "m": 16}),
        ("cs", 0.5, {}, {"k": 2, "d": None}),
        ("cs", 0.75, {"d": 8}, {"k": 4, "d": 8}),
        ("cs", 0.875, {}, {"k": 8, "d": None}),
        ("cs", 0.95, {}, {"k": 16, "d": None}),
        ("unstructured", 0.6, {"scope": "global"}, {"sparsity": 0.6, "scope": "global"}),
        ("block", 0.6, {"n": 16},
         {"n": 16, "sparsity": 0.6, "balance": "uniform", "criterion": "l1",
          "rearrange": False}),
        ("filter", 0.3, {}, {"sparsity": 0.3}),
        ("dense", 0.75, {}, {}),
    ],
)
def test_nearest_level_maps_to_reachable_levels(name, sparsity, fixed, expected):
    p = patterns.nearest_level(name, sparsity, **fixed)
    assert p.name == name
    assert p.params == expected


def test_nearest_level_rejects_bad_requests():
    with pytest.raises(ValueError, match="sparsity"):
        patterns.nearest_level("nm", 1.5)
    with pytest.raises(ValueError, match="unknown pattern"):
        patterns.nearest_level("nope", 0.5)
    with pytest.raises(ValueError, match="second argument"):
        patterns.nearest_level("block", 0.5, sparsity=0.5)


def test_density_counts_kept_fraction():
    assert patterns.density(torch.tensor([True, False, False, True])) == 0.5
    assert patterns.density(torch.tensor([1.0, 0.0, 0.0, 0.0])) == 0.25
