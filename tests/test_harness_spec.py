"""Sweep specs: presets parse, bad specs fail with one line naming the fix, plans expand."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.errors import BadInput
from harness.plan import expand
from harness.spec import load_preset, parse_spec

MINIMAL = """
name = "t"
models = ["resnet20"]
[[patterns]]
name = "nm"
sparsities = [0.5, 0.75]
"""


@pytest.mark.parametrize("preset", ["quick", "full"])
def test_presets_parse(preset: str) -> None:
    spec, text = load_preset(preset)
    assert spec.name == preset
    assert "patterns" in text
    assert {p.name for p in spec.patterns} >= {"unstructured", "nm", "block", "cs", "filter"}


def test_quick_preset_covers_every_family_and_two_sparsities() -> None:
    from patterns.models import model_info

    spec, _ = load_preset("quick")
    trained = {model_info(m).family for m in spec.models}
    measured = {model_info(m).family for m in spec.latency.shape_models}
    assert trained == {"resnet"} and measured == {"vgg", "mobilenet"}
    assert all(len(p.sparsities) >= 2 for p in spec.patterns)


@pytest.mark.parametrize(("text", "needle"), [
    ('name = "t"\nmodel = ["resnet20"]', "did you mean 'models'"),
    ('name = "t"\nmodels = ["resnet21"]', "did you mean 'resnet20'"),
    ('name = "t"\nbackends = ["cc"]', "unknown backend 'cc'"),
    ('name = "t"\nthreads = [0]', "threads must be in 1..1024"),
    # issue 21 point 8: every range is checked when the spec is read, before any work
    ('name = "t"\nthreads = [10000]', "threads must be in 1..1024, got 10000"),
    ('name = "t"\n[train]\nthreads = 5000', "train.threads must be in 1..1024"),
    ('name = "t"\nbatch_sizes = [0]', "batch_sizes must be in 1.."),
    ('name = "t"\n[timing]\nmin_repeats = 0', "[timing] repeats must satisfy"),
    ('name = "t"\n[timing]\nbudget_s = -1', "[timing] budget_s"),
    ('name = "t"\n[timing]\nwarmup = -1', "[timing] warmup=-1"),
    ('name = "t"\n[train]\nlr = -0.1', "[train] lr must be positive"),
    ('name = "t"\n[train]\nepochs = 0', "[train] epochs must be >= 1"),
    ('name = "t"\n[train]\nlabel_smoothing = 1.0', "[train] label_smoothing"),
    ('name = "t"\n[train]\ntrain_subset = 0', "[train] train_subset"),
    ('name = "t"\n[[patterns]]\nname = "nm"\nsparsities = [0.5]\nparams = {m = 128}',
     "fits no layer of resnet20"),
    ('name = "t"\n[[patterns]]\nname = "cs"\nsparsities = [0.5]\nparams = {k = 128}',
     "fits no layer of resnet20"),
    # issue 21 point 7: a parameter of the wrong type is named, not a TypeError
    ('name = "t"\n[[patterns]]\nname = "nm"\nsparsities = [0.5]\nparams = {n = "two", m = 4}',
     "pattern 'nm' params {'n': 'two', 'm': 4} rejected"),
    # issue 21 point 15: empty lists would run nothing
    ('name = "t"\nmodels = []', "'models' and [latency] 'shape_models' are both empty"),
    ('name = "t"\nthreads = []', "'threads' is an empty list"),
    ('name = "t"\nbackends = []', "'backends' is an empty list"),
    ('name = "t"\nthreads = 2', "must be a list"),
    ('name = "t"\n[[patterns]]\nname = "nm"\nsparsities = [1.5]', "outside (0, 1)"),
    ('name = "t"\n[[patterns]]\nname = "cs2"\nsparsities = [0.5]', "did you mean 'cs'"),
    ('name = "t"\n[[patterns]]\nname = "nm"\nsparsities = [0.5]\nparams = {q = 1}', "q"),
    ('name = "t"\n[train]\nepochs = "two"', "must be int"),
    ('name = "t" = ', "not valid TOML"),
    ('models = ["resnet20"]', "needs the key 'name'"),
])
def test_bad_specs_name_the_problem(text: str, needle: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_spec(text)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_plan_maps_sparsities_to_levels_and_pairs_backends() -> None:
    spec = parse_spec('threads = [1, 2]\nbackends = ["torch", "c", "cuda"]\n' + MINIMAL)
    plan = expand(spec, {"resnet20": ["layer1.0.conv1", "layer1.0.conv2"]}, {"torch", "c"})
    trained = {(j.pattern, j.params_json) for j in plan.train}
    assert trained == {("dense", "{}"), ("nm", '{"m": 4, "n": 2}'), ("nm", '{"m": 4, "n": 1}')}
    oneshot = [j for j in plan.train if j.pattern == "nm"]
    assert all(j.parent is not None and j.parent.pattern == "dense" for j in oneshot)
    assert {j.backend for j in plan.layers} == {"torch", "c"}  # cuda unavailable: no jobs
    assert all(j.pattern == "dense" for j in plan.layers if j.backend == "torch")
    # 3 checkpoints x 2 layers x 2 threads on c, dense only on torch
    assert len(plan.layers) == 3 * 2 * 2 + 1 * 2 * 2
    assert len({j.key for j in plan.train}) == len(plan.train)


def test_plan_starts_a_recipe_from_the_dense_parent_when_the_recipe_says_so() -> None:
    """Which children get the dense parent is the recipe's ``dense_parent``, not a list."""
    from patterns.training.recipe import RECIPES, Recipe, register_recipe

    def children(recipe: str) -> list:
        text = MINIMAL.replace("sparsities", f'recipe = "{recipe}"\nsparsities')
        plan = expand(parse_spec(text), {"resnet20": ["layer1.0.conv1"]}, {"torch"})
        return [j for j in plan.train if j.recipe == recipe]

    assert all(j.parent is None for j in children("srste"))  # trains from scratch
    register_recipe("test_from_parent")(type("FromParent", (Recipe,), {"dense_parent": True}))
    try:
        assert all(j.parent is not None and j.parent.recipe == "dense"
                   for j in children("test_from_parent"))
    finally:
        RECIPES.remove("test_from_parent")


def test_cli_reports_bad_spec_with_exit_2(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "t"\nmodles = ["resnet20"]\n')
    proc = subprocess.run([sys.executable, "-m", "harness", "bench", "--spec", str(bad),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "did you mean 'models'" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_cli_missing_spec_file(tmp_path) -> None:
    with pytest.raises(BadInput, match="cannot read sweep file"):
        from harness.spec import load_spec_file

        load_spec_file(tmp_path / "nope.toml")
