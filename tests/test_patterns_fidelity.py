"""Patterns as their authors wrote them (issue 17): idempotent masks for every pattern and
criterion in the registry, and 1×N's channel rearrangement (filter L1 order, bound per
layer, validated in that order, stored in checkpoints).
"""

from __future__ import annotations

import hashlib
import io
import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from specs import sweep_toml
from test_patterns_invariants import keep_order, weights  # pytest puts tests/ on sys.path

import patterns
from patterns.block import CRITERIA, filter_order
from patterns.checkpoint import MAGIC, load_checkpoint, save_checkpoint
from patterns.masks import count

SPARSITIES = [0.0, 0.3, 0.5, 0.75, 0.9]

# pattern name -> strategy of its parameters; the shapes below (Cout % 4 == 0, Cin % 8 == 0)
# fit every one of them
PARAMS = {
    "dense": st.just({}),
    "unstructured": st.fixed_dictionaries(
        {"sparsity": st.sampled_from(SPARSITIES), "scope": st.sampled_from(["layer", "global"])}
    ),
    "nm": st.sampled_from([(1, 2), (1, 4), (2, 4), (3, 8)]).map(lambda t: {"n": t[0], "m": t[1]}),
    "block": st.fixed_dictionaries({
        "n": st.sampled_from([1, 2, 4]),
        "sparsity": st.sampled_from(SPARSITIES),
        "balance": st.sampled_from(["uniform", "global"]),
        "criterion": st.sampled_from(list(CRITERIA)),
        "rearrange": st.booleans(),
    }),
    "cs": st.sampled_from([{"k": 2}, {"k": 4}, {"k": 2, "d": 2}, {"k": 4, "d": 2}]),
    "filter": st.fixed_dictionaries({"sparsity": st.sampled_from(SPARSITIES)}),
}


def test_every_registered_pattern_has_parameters_here():
    assert sorted(PARAMS) == sorted(patterns.available())


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(PARAMS)),
    data=st.data(),
    seed=st.integers(0, 2**31 - 1),
    levels=st.sampled_from([0, 0, 1, 3]),
    cout=st.sampled_from([4, 8, 12]),
    cin=st.sampled_from([8, 16]),
    taps=st.sampled_from([(1, 1), (3, 3), (1, 3)]),
)
def test_mask_of_the_masked_weight_is_the_mask(name, data, seed, levels, cout, cin, taps):
    """``mask(W ⊙ mask(W)) == mask(W)``; a rearranged block's mask is taken under the order
    ``mask(W)`` blocked in (its state, ``filter_order(W)``). Under the order a checkpoint
    stores (channels grouped by their mask) the blocks are the same, but ties among kept
    all-zero blocks may be broken at other positions, so that is checked without ties."""
    pattern = patterns.make(name, **data.draw(PARAMS[name]))
    w = weights((cout, cin, *taps), seed, levels)
    mask = pattern.mask(w)
    if not pattern.params.get("rearrange"):
        assert torch.equal(pattern.mask(w * mask), mask)
        return
    assert torch.equal(pattern.with_order(filter_order(w)).mask(w * mask), mask)
    if levels == 0:
        assert torch.equal(pattern.for_layer(mask).mask(w * mask), mask)


# ---------------------------------------------------------------- rearrange -----------
def rearranged_reference(w: torch.Tensor, n: int, keep: int) -> torch.Tensor:
    """Loops: channels by descending filter L1 (ties to lower index), block-rows of n of
    them in that order, each keeping its ``keep`` largest-L1 blocks (ties to lower ci)."""
    cout, cin = w.shape[:2]
    norms = w.abs().flatten(1).sum(1).tolist()
    order = keep_order(norms)
    mask = torch.zeros(w.shape, dtype=torch.bool)
    for r in range(cout // n):
        chans = order[r * n : (r + 1) * n]
        scores = [float(w[chans, ci].abs().sum()) for ci in range(cin)]
        for ci in keep_order(scores)[:keep]:
            mask[chans, ci] = True
    return mask


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), levels=st.sampled_from([0, 1, 3]),
       n=st.sampled_from([1, 2, 4]), rows=st.integers(1, 4), cin=st.integers(1, 9),
       sparsity=st.sampled_from(SPARSITIES))
def test_rearranged_mask_blocks_channels_in_filter_l1_order(seed, levels, n, rows, cin,
                                                           sparsity):
    w = weights((n * rows, cin, 3, 3), seed, levels)
    p = patterns.make("block", n=n, sparsity=sparsity, rearrange=True)
    mask = p.mask(w)
    keep = count((1 - sparsity) * cin)  # uniform balance: per block-row, half up
    assert torch.equal(mask, rearranged_reference(w, n, keep))
    p.validate(mask)
    p.with_order(filter_order(w)).validate(mask)
    p.for_layer(mask).validate(mask)


# channel L1 norms 4, 1, 3, 2 -> order 0, 2, 3, 1: block-rows {0, 2} and {3, 1}
INTERLEAVED = torch.tensor([[3.0, 1.0], [0.0, 1.0], [2.0, 1.0], [0.5, 1.5]]).view(4, 2, 1, 1)


def test_rearranged_mask_is_validated_in_its_channel_order():
    p = patterns.make("block", n=2, sparsity=0.5, rearrange=True)
    mask = p.mask(INTERLEAVED)
    assert filter_order(INTERLEAVED).tolist() == [0, 2, 3, 1]
    assert mask[:, :, 0, 0].tolist() == [[True, False], [False, True],
                                         [True, False], [False, True]]
    p.with_order([0, 2, 3, 1]).validate(mask)
    p.validate(mask)  # unbound: the channels grouped by their kept blocks
    with pytest.raises(ValueError, match="mask breaks .*partly kept"):
        p.with_order([0, 1, 2, 3]).validate(mask)  # the natural order does not block it
    with pytest.raises(ValueError, match="mask breaks .*partly kept"):
        patterns.make("block", n=2, sparsity=0.5).validate(mask)
    broken = mask.clone()
    broken[3, 0] = True  # channel 3 no longer matches channel 1 of its block-row
    with pytest.raises(ValueError, match="mask breaks"):
        p.validate(broken)
    with pytest.raises(ValueError, match="mask breaks .*channel order has 3 entries"):
        p.with_order([0, 2, 1]).validate(mask)


def test_channel_orders_are_refused_where_they_do_not_fit():
    with pytest.raises(ValueError, match="keeps channels in order; use rearrange=true"):
        patterns.make("block", n=2, sparsity=0.5).with_order([1, 0])
    with pytest.raises(ValueError, match="keeps channels in order; it takes no channel order"):
        patterns.make("nm", n=2, m=4).with_order([1, 0])
    p = patterns.make("block", n=2, sparsity=0.5, rearrange=True)
    with pytest.raises(ValueError, match="must be a permutation of 0..3"):
        p.with_order([0, 0, 1, 2])
    with pytest.raises(ValueError, match="must be a permutation of 0..5"):
        p.with_order(torch.arange(4)).mask(torch.randn(6, 3))
    with pytest.raises(ValueError, match="rearrange must be true or false"):
        patterns.make("block", n=2, sparsity=0.5, rearrange="yes")
    assert p.describe() == "block(1x2,50%,uniform,l1,rearranged)"
    assert p.needs_order and not p.for_layer(p.mask(INTERLEAVED)).needs_order


def _save(path, pattern, masks, weights_by_layer):
    state = {f"{name}.weight": w * masks[name] for name, w in weights_by_layer.items()}
    meta = {"pattern": pattern.name, "pattern_params": pattern.params}
    return save_checkpoint(path, state_dict=state, masks=masks, meta=meta)


def test_checkpoint_stores_and_validates_the_channel_orders(tmp_path):
    import kernels_c

    p = patterns.make("block", n=4, sparsity=0.75, criterion="bpar", rearrange=True)
    torch.manual_seed(0)
    ws = {"a": torch.randn(16, 8, 3, 3), "b": torch.randn(8, 16, 1, 1)}
    masks = {name: p.mask(w) for name, w in ws.items()}
    path = tmp_path / "checkpoint.pt"
    _save(path, p, masks, ws)
    ckpt = load_checkpoint(path)
    assert set(ckpt.orders) == {"a", "b"}
    for name, bound in ckpt.layer_patterns().items():
        assert torch.equal(bound.order, p.layer_order(masks[name]))
        bound.validate(ckpt.masks[name])
        weight = ckpt.state_dict[f"{name}.weight"]
        x = torch.randn(2, weight.shape[1], 6, 6)
        got = kernels_c.prepare(weight, pattern=bound, padding=weight.shape[-1] // 2)(x)
        want = torch.nn.functional.conv2d(x, weight, None, 1, weight.shape[-1] // 2)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)

    # a file whose stored order does not block its mask is refused on load
    raw = path.read_bytes()
    payload = torch.load(io.BytesIO(raw[len(MAGIC) + 32 :]), weights_only=True)
    meta = json.loads(payload["meta"])
    meta["channel_orders"]["a"] = list(range(16))
    payload["meta"] = json.dumps(meta, sort_keys=True)
    buf = io.BytesIO()
    torch.save(payload, buf)
    body = buf.getvalue()
    path.write_bytes(MAGIC + hashlib.sha256(body).digest() + body)
    with pytest.raises(ValueError, match="mask of layer 'a' breaks block"):
        load_checkpoint(path)


def test_checkpoints_of_patterns_in_natural_order_store_no_orders(tmp_path):
    p = patterns.make("block", n=4, sparsity=0.5)
    ws = {"a": torch.randn(8, 4, 3, 3)}
    _save(tmp_path / "c.pt", p, {"a": p.mask(ws["a"])}, ws)
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert "channel_orders" not in ckpt.meta and ckpt.layer_patterns()["a"].order is None


REARRANGED_SWEEP = sweep_toml(
    "rearranged", [{"name": "block", "sparsities": [0.75], "recipe": "subp",
                    "params": {"n": 4, "criterion": "bpar", "rearrange": True}}], backends=["c"])


def test_a_sweep_trains_and_measures_a_rearranged_block(tmp_path):
    """``rearrange = true`` in a sweep spec: trained by subp, checkpoint reloaded (validated
    in its channel orders), every layer and the whole model run in C, checked against torch."""
    import results
    from harness.runner import run_sweep
    from harness.spec import parse_spec

    spec = parse_spec(REARRANGED_SWEEP)
    run_sweep(spec, REARRANGED_SWEEP, db_path=tmp_path / "r.duckdb", out_dir=tmp_path / "out",
              progress=False)
    m = results.Store(tmp_path / "r.duckdb").measurements()
    block = m[(m["pattern"] == "block") & (m["backend"] == "c")]
    assert len(block) > 0 and (block["status"] == "ok").all(), block["status"].tolist()
    assert (block["max_rel_error"] < 1e-4).all()
    ckpts = [load_checkpoint(c) for c in (tmp_path / "out").rglob("checkpoint.pt")]
    rearranged = [c for c in ckpts if c.meta["pattern"] == "block"]
    assert len(rearranged) == 1 and rearranged[0].meta["pattern_params"]["rearrange"]
    assert set(rearranged[0].orders) == set(rearranged[0].masks)


def test_kernels_refuse_a_rearranged_pattern_without_its_channel_order():
    import kernels_c
    from kernels_cuda import packing

    p = patterns.make("block", n=2, sparsity=0.5, rearrange=True)
    w = INTERLEAVED * p.mask(INTERLEAVED)
    for pack in (kernels_c.prepare, packing.pack):
        with pytest.raises(ValueError, match="needs the layer's channel order"):
            pack(w, pattern=p)
    bound = p.for_layer(p.mask(INTERLEAVED))
    assert packing.pack(w, bound).arrays["chan"].tolist() == bound.order.tolist()
    rowmap = kernels_c.prepare(w, pattern=bound).packed.arrays["rowmap"]
    assert rowmap.tolist() == bound.order.tolist() == [1, 3, 0, 2]  # {1, 3} keep ci 1


def test_train_flag_rearrange_reaches_the_pattern_only_when_given():
    import argparse

    from harness.commands.train import build_config, configure

    parser = argparse.ArgumentParser()
    configure(parser)
    base = ["--model", "resnet20", "--dataset", "fashion-mnist", "--pattern", "block",
            "--n", "4", "--sparsity", "0.75", "--recipe", "subp", "--out", "x"]
    assert build_config(parser.parse_args([*base, "--rearrange"])).pattern_params == {
        "n": 4, "sparsity": 0.75, "rearrange": True}
    assert "rearrange" not in build_config(parser.parse_args(base)).pattern_params
