"""The checkpoint file: round trip, hashes, and refusal of damaged or foreign files."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
import torch

import patterns
from patterns.checkpoint import (
    MAGIC,
    load_checkpoint,
    mask_hash,
    save_checkpoint,
    weights_hash,
)


def _content(seed: int = 0):
    torch.manual_seed(seed)
    pattern = patterns.make("nm", n=2, m=4)
    weight = torch.randn(8, 8, 3, 3)
    mask = pattern.mask(weight)
    state = {
        "conv.weight": weight * mask,
        "fc.weight": torch.randn(10, 8),
        "bn.num_batches_tracked": torch.tensor(7),
    }
    meta = {"model": "m", "dataset": "d", "pattern": "nm", "pattern_params": pattern.params,
            "top1": 91.5, "top5": 99.0}
    return state, {"conv": mask}, meta


@pytest.fixture()
def saved(tmp_path):
    state, masks, meta = _content()
    path = tmp_path / "ck.pt"
    save_checkpoint(path, state_dict=state, masks=masks, meta=meta)
    return path, state, masks


def test_round_trip(saved):
    path, state, masks = saved
    ckpt = load_checkpoint(path)
    assert ckpt.state_dict.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(ckpt.state_dict[key], value)
    assert torch.equal(ckpt.masks["conv"], masks["conv"])
    assert ckpt.masks["conv"].dtype == torch.bool
    assert ckpt.mask_hash == mask_hash(masks)
    assert ckpt.weights_hash == weights_hash(state)
    assert (ckpt.top1, ckpt.top5) == (91.5, 99.0)
    assert ckpt.pattern() == patterns.make("nm", n=2, m=4)


def test_hashes_are_canonical_and_sensitive():
    state, masks, _ = _content()
    assert weights_hash(dict(reversed(list(state.items())))) == weights_hash(state)
    changed = dict(state, **{"fc.weight": state["fc.weight"].clone()})
    changed["fc.weight"][0, 0] += 1e-3
    assert weights_hash(changed) != weights_hash(state)
    flipped = masks["conv"].clone()
    flipped.view(-1)[0] = ~flipped.view(-1)[0]
    assert mask_hash({"conv": flipped}) != mask_hash(masks)


def test_truncated_file_is_refused(saved):
    path = saved[0]
    raw = path.read_bytes()
    for size in (len(raw) // 2, len(MAGIC) + 10, 3):
        path.write_bytes(raw[:size])
        with pytest.raises(ValueError, match="retrain or restore it") as err:
            load_checkpoint(path)
        assert "\n" not in str(err.value)


def test_one_flipped_byte_anywhere_is_refused(saved):
    path = saved[0]
    raw = path.read_bytes()
    for pos in (0, len(MAGIC) + 3, len(raw) // 3, len(raw) // 2, len(raw) - 1):
        damaged = bytearray(raw)
        damaged[pos] ^= 0x01
        path.write_bytes(bytes(damaged))
        with pytest.raises(ValueError, match="(corrupt|not a sparsebench checkpoint)"):
            load_checkpoint(path)


def test_foreign_files_are_refused(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, plain)
    with pytest.raises(ValueError, match="is not a sparsebench checkpoint"):
        load_checkpoint(plain)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="is not a sparsebench checkpoint"):
        load_checkpoint(text)
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def _forge(path, state, masks, meta):
    """Write a file with a valid digest and hashes, bypassing save_checkpoint's checks."""
    from patterns.checkpoint import _pack

    meta = dict(meta, mask_shapes={k: list(v.shape) for k, v in masks.items()},
                mask_hash=mask_hash(masks), weights_hash=weights_hash(state))
    payload = {"format": "sparsebench-checkpoint", "version": 1,
               "meta": json.dumps(meta), "state_dict": state,
               "masks": {k: _pack(v) for k, v in masks.items()}}
    buf = io.BytesIO()
    torch.save(payload, buf)
    body = buf.getvalue()
    path.write_bytes(MAGIC + hashlib.sha256(body).digest() + body)


def test_consistent_but_invalid_content_is_refused(tmp_path):
    state, masks, meta = _content()
    path = tmp_path / "forged.pt"
    nonzero = dict(state, **{"conv.weight": state["conv.weight"] + 1.0})
    _forge(path, nonzero, masks, meta)
    with pytest.raises(ValueError, match="non-zero weights where its mask prunes"):
        load_checkpoint(path)
    broken = masks["conv"].clone()
    broken.view(-1)[:4] = True  # a group of 4 with 4 kept breaks 2:4
    _forge(path, dict(state, **{"conv.weight": state["conv.weight"] * broken}),
           {"conv": broken}, meta)
    with pytest.raises(ValueError, match="breaks nm"):
        load_checkpoint(path)


def test_save_refuses_weights_outside_the_mask(tmp_path):
    state, masks, meta = _content()
    state["conv.weight"] = state["conv.weight"] + 1.0
    with pytest.raises(RuntimeError, match="outside its mask"):
        save_checkpoint(tmp_path / "x.pt", state_dict=state, masks=masks, meta=meta)
    assert not (tmp_path / "x.pt").exists()


def test_consistent_checkpoint_of_the_wrong_shape_is_refused_in_one_line(tmp_path):
    """Issue 21 point 15: hashes agree, but a tensor does not fit the model it names."""
    from patterns.models import create_model

    state = create_model("resnet20", num_classes=10, in_channels=3).state_dict()
    meta = {"model": "resnet20", "dataset": "fashion-mnist", "pattern": "dense",
            "pattern_params": {}, "num_classes": 10, "in_channels": 1}
    path = tmp_path / "wrong.pt"
    save_checkpoint(path, state_dict=state, masks={}, meta=meta)
    with pytest.raises(ValueError, match="does not fit resnet20") as info:
        load_checkpoint(path).build_model()
    assert "\n" not in str(info.value) and "size mismatch" in str(info.value)


def test_a_folder_is_not_a_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="is a folder, not a checkpoint file"):
        load_checkpoint(tmp_path)
