"""The trainer end to end on a tiny CNN and a few Fashion-MNIST images: checkpoint, resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import patterns
from patterns import models
from patterns.checkpoint import load_checkpoint
from patterns.training import TrainConfig, train
from patterns.training.recipe import RECIPES, register_recipe
from patterns.training.recipes.gmp import GMP
from patterns.training.trainer import mask_change
from sparsebench import provenance

TINY = "tiny_test_cnn"


def _tiny(num_classes: int, in_channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes),
    )


@pytest.fixture(autouse=True, scope="module")
def tiny_model():
    """The tiny CNN in the model zoo for this module's tests only."""
    models.register(TINY, family="resnet", input_size=28)(_tiny)
    yield TINY
    models.MODELS.remove(TINY)


class _Interrupt(GMP):
    """GMP that raises KeyboardInterrupt at the start of epoch ``stop_at`` (when set)."""

    stop_at: int | None = None

    def on_epoch_start(self, epoch: int) -> None:
        if epoch == type(self).stop_at:
            raise KeyboardInterrupt
        super().on_epoch_start(epoch)


@pytest.fixture()
def interrupt_recipe():
    register_recipe("test_interrupt_gmp")(_Interrupt)
    yield _Interrupt
    RECIPES.remove("test_interrupt_gmp")
    _Interrupt.stop_at = None


def _config(out, **kw) -> TrainConfig:
    base = dict(model=TINY, dataset="fashion-mnist", out=str(out), epochs=3, batch_size=32,
                train_subset=96, test_subset=64, threads=1, progress=False, seed=3)
    return TrainConfig(**{**base, **kw})


def test_resume_reproduces_the_uninterrupted_run(tmp_path, interrupt_recipe):
    sparse = dict(pattern="nm", pattern_params={"n": 2, "m": 4}, recipe="test_interrupt_gmp")
    whole = train(_config(tmp_path / "whole", **sparse))

    interrupt_recipe.stop_at = 2
    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path / "cut", **sparse))
    assert (tmp_path / "cut" / "train_state.pt").exists()
    assert not (tmp_path / "cut" / "checkpoint.pt").exists()
    with pytest.raises(ValueError, match="add --resume"):
        train(_config(tmp_path / "cut", **sparse))
    interrupt_recipe.stop_at = None
    resumed = train(_config(tmp_path / "cut", resume=True, **sparse))

    assert resumed.checkpoint.weights_hash == whole.checkpoint.weights_hash
    assert resumed.checkpoint.mask_hash == whole.checkpoint.mask_hash
    assert (resumed.top1, resumed.top5) == (whole.top1, whole.top5)
    assert not (tmp_path / "cut" / "train_state.pt").exists()
    again = train(_config(tmp_path / "cut", resume=True, **sparse))  # finished: reused
    assert again.checkpoint.weights_hash == whole.checkpoint.weights_hash
    with pytest.raises(ValueError, match="finished run with different settings"):
        train(_config(tmp_path / "cut", resume=True, epochs=4, **sparse))


def test_checkpoint_of_a_training_run(tmp_path):
    result = train(_config(tmp_path / "cs", pattern="cs", pattern_params={"k": 4},
                           recipe="cs", epochs=2))
    ckpt = load_checkpoint(result.path)
    meta = ckpt.meta
    assert set(ckpt.masks) == {"3", "6"}  # the stem and the classifier stay dense
    for name, mask in ckpt.masks.items():
        patterns.make("cs", k=4).validate(mask)
        assert torch.count_nonzero(ckpt.state_dict[f"{name}.weight"][~mask]) == 0
    table = {row["name"]: row for row in meta["layer_table"]}
    assert table["3"]["density"] == pytest.approx(0.25) and table["3"]["pruned"]
    assert not table["0"]["pruned"] and table["0"]["reason"]
    assert meta["actual_density"] == pytest.approx(0.25)
    assert meta["recipe"] == "cs" and meta["recipe_params"]["decay"] == 2e-4
    assert meta["epochs"] == 2 and meta["seed"] == 3 and len(meta["history"]) == 2
    assert 0 <= result.top1 <= result.top5 <= 100
    assert meta["software"] == provenance.software_versions()  # the runs' software dict
    code = provenance.code_state()
    assert (meta["git_commit"], meta["git_dirty"]) == (code.commit, code.dirty)
    assert meta["code_fingerprint"] == code.fingerprint
    model = ckpt.build_model()
    assert isinstance(model, nn.Sequential)
    with pytest.raises(ValueError, match="already exists"):
        train(_config(tmp_path / "cs", pattern="cs", pattern_params={"k": 4},
                      recipe="cs", epochs=2))


def test_oneshot_prunes_the_dense_checkpoint_and_keeps_the_mask(tmp_path):
    dense = train(_config(tmp_path / "dense", epochs=1))
    shot = train(_config(tmp_path / "shot", pattern="filter", pattern_params={"sparsity": 0.5},
                         recipe="oneshot", recipe_params={"init": str(dense.path)}, epochs=1))
    plan = patterns.apply(dense.checkpoint.build_model(), patterns.make("filter", sparsity=0.5))
    for name, mask in plan.masks.items():
        assert torch.equal(shot.checkpoint.masks[name], mask)  # mask fixed from the dense model
    assert shot.checkpoint.meta["recipe_params"]["init_weights_hash"] == (
        dense.checkpoint.weights_hash
    )
    assert [h["mask_change"] for h in shot.checkpoint.meta["history"]] == [0.0]
    with pytest.raises(ValueError, match="not dense"):
        train(_config(tmp_path / "again", pattern="cs", pattern_params={"k": 4},
                      recipe="oneshot", recipe_params={"init": str(shot.path)}, epochs=1))
    assert not (tmp_path / "again").exists()


def test_history_says_how_far_the_masks_moved_each_epoch(tmp_path):
    result = train(_config(tmp_path / "subp", pattern="block",
                           pattern_params={"n": 4, "sparsity": 0.5}, recipe="subp", epochs=3))
    changes = [h["mask_change"] for h in result.checkpoint.meta["history"]]
    assert len(changes) == 3 and all(0.0 <= c <= 1.0 for c in changes)
    # the masks start all ones and end half zeros: at least half the entries flipped
    assert sum(changes) >= 0.5
    before = {"a": torch.tensor([True, True, False, False])}
    after = {"a": torch.tensor([True, False, True, False])}
    assert mask_change(before, after) == 0.5 and mask_change({}, {}) == 0.0


@pytest.mark.parametrize(
    ("pattern", "params", "recipe", "message"),
    [
        ("block", {"n": 4, "sparsity": 0.5}, "srste", "cannot train pattern block"),
        ("nm", {"n": 2, "m": 4}, "subp", "uniform 1xN"),
        ("nm", {"n": 2, "m": 4}, "cs", "cannot train pattern nm"),
        ("cs", {"k": 4}, "dense", "trains without a mask"),
        ("cs", {"k": 4}, "oneshot", "needs the dense checkpoint"),
        ("cs", {"k": 4}, "nosuch", "unknown recipe"),
        ("cs", {"k": 4, "m": 2}, "cs", "unknown parameter"),
    ],
)
def test_bad_input_raises_one_line_and_writes_nothing(tmp_path, pattern, params, recipe,
                                                      message):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=message) as err:
        train(_config(out, pattern=pattern, pattern_params=params, recipe=recipe))
    assert "\n" not in str(err.value)
    assert not out.exists()


def _flip_a_weight_byte(state_path) -> None:
    """Change one byte inside the largest saved weight tensor (the zip stays readable)."""
    raw = bytearray(state_path.read_bytes())
    start = raw.index(b"PK\x03\x04")  # the torch.save zip, after any header
    state = torch.load(__import__("io").BytesIO(bytes(raw[start:])), weights_only=True)
    weight = max(state["model"].values(), key=lambda t: t.numel())
    data = weight.numpy().tobytes()
    at = raw.index(data) + len(data) // 2
    raw[at] ^= 0x01
    state_path.write_bytes(bytes(raw))


def test_a_corrupt_resume_state_is_refused_with_how_to_restart(tmp_path, interrupt_recipe):
    """Issue 21 point 4: train_state.pt is sealed like a checkpoint; one changed byte in a
    tensor is caught instead of resuming from altered weights."""
    sparse = dict(pattern="nm", pattern_params={"n": 2, "m": 4}, recipe="test_interrupt_gmp")
    interrupt_recipe.stop_at = 2
    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path / "cut", **sparse))
    interrupt_recipe.stop_at = None
    state_path = tmp_path / "cut" / "train_state.pt"
    _flip_a_weight_byte(state_path)
    with pytest.raises(ValueError, match="is damaged") as info:
        train(_config(tmp_path / "cut", resume=True, **sparse))
    assert f"delete {state_path}" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "cut" / "checkpoint.pt").exists()
    state_path.unlink()  # the restart the message describes works
    assert train(_config(tmp_path / "cut", resume=True, **sparse)).path.exists()
