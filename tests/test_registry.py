"""sparsebench.registry, and every registry of the project built on it: a name registered
twice is refused, an unknown name is bad input naming the closest valid one."""

from __future__ import annotations

import pytest

from sparsebench.registry import Registry, UnknownName


def test_registry_reads_like_a_mapping_in_registration_order():
    reg: Registry[str, int] = Registry("colour")
    assert reg.register("red", "rouge")(1) == 1
    reg.add("green", 2)
    assert list(reg) == ["red", "rouge", "green"] and len(reg) == 3
    assert reg["rouge"] == 1 and reg.get("blue") is None and "green" in reg
    assert [] not in reg  # an unhashable name is simply not there


def test_a_name_registered_twice_is_refused():
    reg: Registry[str, int] = Registry("colour")
    reg.add("red", 1)
    with pytest.raises(ValueError, match="colour 'red' is registered twice"):
        reg.add("red", 2)
    assert reg["red"] == 1


def test_an_unknown_name_is_a_key_error_and_bad_input_naming_the_closest():
    reg: Registry[str, int] = Registry("colour")
    for value, name in enumerate(("red", "green", "blue")):
        reg.add(name, value)
    with pytest.raises(UnknownName) as err:
        reg["gren"]
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    assert str(err.value) == ("unknown colour 'gren' (did you mean 'green'?); "
                              "choose one of: red, green, blue")
    with pytest.raises(ValueError, match=r"unknown colour \['x'\]; choose one of"):
        reg[["x"]]
    custom = Registry("packer", unknown="no kernel for pattern {name!r}")
    custom.add("nm", 1)
    with pytest.raises(ValueError, match=r"^no kernel for pattern 'mn'; choose one of: nm$"):
        custom["mn"]


def test_override_and_remove_undo_a_tests_entry():
    reg: Registry[str, int] = Registry("colour")
    reg.add("red", 1)
    reg.add("green", 2)
    with reg.override("red", 10), reg.override("blue", 3):
        assert dict(reg) == {"red": 10, "green": 2, "blue": 3}
    assert list(reg.items()) == [("red", 1), ("green", 2)]
    reg.add("blue", 3)
    assert reg.remove("blue") == 3 and "blue" not in reg


def _register_again() -> dict[str, object]:
    """Per registry of the project: a call registering a name it already holds."""
    import kernels_c.packers
    import kernels_cuda.launch
    import kernels_cuda.packing
    import patterns
    from harness import backends, commands, context, executors, plan, spec_checks
    from patterns import data, models
    from patterns.training import recipe
    from patterns.training.recipes import gmp
    from reports import checklist, missing

    def same(fn):
        return lambda: fn(lambda *a, **k: None)

    return {
        "pattern": lambda: patterns.register(patterns.registry.PATTERNS["nm"]),
        "model": same(models.register("resnet20", family="resnet", input_size=32)),
        "data set": same(data.register(data.dataset_info("fashion-mnist"))),
        "recipe": lambda: recipe.register_recipe("gmp")(type("Again", (recipe.Recipe,), {})),
        "ladder": same(gmp.ladder("nm")),
        "backend": same(backends.backend("c", devices=("cpu",), exploits_sparsity=True,
                                         availability=lambda: (True, ""), build_info=dict)),
        "sub-command": lambda: commands.register("env", "again", lambda p: None, lambda a: 0),
        "job type": same(context.executor(plan.TrainJob)),
        "executor": same(executors.sweep_executor("local")),
        "C packer": same(kernels_c.packers.packer("nm")),
        "CUDA packer": same(kernels_cuda.packing.packer("nm")),
        "CUDA kernel family": same(kernels_cuda.packing.unpacker(
            next(iter(kernels_cuda.packing.UNPACKERS)))),
        "spec check": lambda: spec_checks.check(next(iter(spec_checks.CHECKS.values()))),
        "checklist item": same(checklist.check(next(iter(checklist.CHECKS)))),
        "detector": lambda: missing.detector(next(iter(missing.DETECTORS.values()))),
        "CUDA launch": same(kernels_cuda.launch.builder(next(iter(kernels_cuda.launch.BUILDERS)),
                                                        str)),
    }


@pytest.mark.parametrize("kind", list(_register_again()))
def test_every_project_registry_refuses_a_second_registration(kind):
    from harness.commands import discover

    discover()  # every sub-command registered
    with pytest.raises(ValueError, match="is registered twice"):
        _register_again()[kind]()


def test_every_project_registry_names_the_closest_valid_name():
    import patterns
    from harness.backends import BACKENDS
    from patterns import data, models
    from patterns.training import make_recipe

    for call, hint in ((lambda: patterns.make("nmm"), "'nm'"),
                       (lambda: models.create_model("resnet21"), "'resnet20'"),
                       (lambda: data.dataset_info("fashion_mnist"), "'fashion-mnist'"),
                       (lambda: make_recipe("gpm", patterns.make("dense")), "'gmp'"),
                       (lambda: BACKENDS["torch_bets"], "'torch_best'")):
        with pytest.raises(ValueError, match=f"did you mean {hint}"):
            call()
