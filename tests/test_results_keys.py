"""Content-hash keys: one key per configuration, whatever the spelling of its values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import results
from results import keys, samples

IDS = {"machine_id": "m" * 64, "software_id": "s" * 64}


def _row(**overrides):
    return samples.measurement(**{**IDS, **overrides})


def test_same_configuration_same_key_despite_outcome():
    first = _row(median_s=0.01, status="ok", run_id="a", kernel="nm-avx512")
    second = _row(median_s=None, min_s=None, status="error", message="x", run_id="b")
    assert results.measurement_key(first) == results.measurement_key(second)


@pytest.mark.parametrize(
    "column, other",
    [("threads", 2), ("batch", 8), ("pattern_params", {"n": 1, "m": 4}), ("machine_id", "x"),
     ("software_id", "y"), ("requested_sparsity", 0.75), ("checkpoint_key", "c" * 64),
     ("kernel_source_hash", "h"), ("backend", "torch"), ("device", "cuda"), ("layer", "c1")],
)  # fmt: skip
def test_configuration_change_changes_key(column, other):
    assert results.measurement_key(_row()) != results.measurement_key(_row(**{column: other}))


@pytest.mark.parametrize(
    "column, other",
    [("mask_hash", "z"), ("isa", "avx2"), ("compile_flags", "-O2"), ("in_channels", 7),
     ("kernel", "nm-scalar"), ("layer_kind", "1x1"), ("precision", "bf16")],
)  # fmt: skip
def test_what_follows_from_the_configuration_is_not_keyed(column, other):
    """Shapes, ISA, flags and what a kernel reports follow from the configuration: a writer
    that records them (or not) gets the same key as one that does not."""
    assert results.measurement_key(_row()) == results.measurement_key(_row(**{column: other}))


def test_a_checkpoint_fixes_the_weights():
    """With a checkpoint the pattern columns say nothing more (a layer the policy kept
    dense records 'dense' in a sparse checkpoint): the key follows the checkpoint."""
    trained = _row(checkpoint_key="c" * 64)
    as_dense = _row(checkpoint_key="c" * 64, pattern="dense", pattern_params={},
                    requested_sparsity=0.0)
    assert results.measurement_key(trained) == results.measurement_key(as_dense)
    assert results.measurement_key(_row()) != results.measurement_key(
        _row(pattern="dense", pattern_params={}, requested_sparsity=0.0))
    frame = pd.DataFrame([trained, _row(), as_dense])  # NaN checkpoint keys from pandas
    columns = {c: frame[c].tolist() for c in keys.MEASUREMENT_KEY_COLUMNS if c in frame}
    assert keys.measurement_keys(columns, 3) == [
        results.measurement_key(r) for r in (trained, _row(), as_dense)]


def test_value_spellings_share_a_key():
    plain = _row(threads=2, requested_sparsity=0.5, pattern_params={"n": 2, "m": 4})
    spelled = _row(
        threads=np.int64(2), requested_sparsity=np.float32(0.5),
        pattern_params=json.dumps({"m": 4, "n": 2}),
    )  # fmt: skip
    floaty = _row(threads=2.0, requested_sparsity=0.5000000000000001)
    assert results.measurement_key(plain) == results.measurement_key(spelled)
    assert results.measurement_key(plain) == results.measurement_key(floaty)
    assert results.measurement_key(_row(layer=None)) == results.measurement_key(
        {k: v for k, v in _row().items() if k != "layer"}
    )


def test_nan_counts_as_missing():
    assert results.measurement_key(_row(isa=float("nan"))) == results.measurement_key(
        _row(isa=None)
    )


def test_bulk_keys_equal_row_keys():
    rows = [_row(threads=t, batch=b) for t in (1, 2) for b in (1, 4)]
    columns = {c: [r.get(c) for r in rows] for c in keys.MEASUREMENT_KEY_COLUMNS}
    assert keys.measurement_keys(columns, len(rows)) == [results.measurement_key(r) for r in rows]


def test_checkpoint_key_is_training_configuration():
    base = samples.checkpoint()
    retrained = samples.checkpoint(top1=0.5, weights_hash="other", path="elsewhere.pt")
    assert results.checkpoint_key(base) == results.checkpoint_key(retrained)
    assert results.checkpoint_key(base) != results.checkpoint_key(samples.checkpoint(seed=1))


def test_machine_id_ignores_hostname_only():
    assert results.machine_id(samples.machine()) == results.machine_id(
        samples.machine(hostname="other")
    )
    assert results.machine_id(samples.machine()) != results.machine_id(samples.machine(cores=4))


def test_empty_dicts_have_keys():
    assert results.machine_id({}) != results.software_id({})


def test_bad_json_and_unkeyable_values_are_refused():
    with pytest.raises(ValueError, match="pattern_params must hold JSON"):
        results.measurement_key(_row(pattern_params="{not json"))
    with pytest.raises(ValueError, match="cannot key"):
        results.measurement_key(_row(layer=object()))


params = st.dictionaries(
    st.sampled_from(["n", "m", "k", "d", "scope"]),
    st.one_of(st.integers(-5, 64), st.floats(0, 1, allow_nan=False), st.text(max_size=4)),
)


@given(params)
def test_param_order_never_matters(p):
    reordered = dict(reversed(list(p.items())))
    assert results.measurement_key(_row(pattern_params=p)) == results.measurement_key(
        _row(pattern_params=reordered)
    )
