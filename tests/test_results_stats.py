"""Accuracy intervals, the exact McNemar test, correctness bits, seed means, ratio intervals,
against values computed by hand; and the schema step that adds their columns."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import results
from patterns.data import TensorImageDataset
from patterns.training import evaluate
from results import schema, stats


def test_wilson_interval_matches_hand_computed_values():
    # 5/10: centre 0.5, half-width 1.96 * sqrt(0.025 + 1.96^2/400) / (1 + 1.96^2/10)
    lo, hi = stats.wilson_interval(5, 10)
    assert lo == pytest.approx(0.236593, abs=1e-6) and hi == pytest.approx(0.763407, abs=1e-6)
    # 0 of n: [0, z^2 / (n + z^2)];  n of n: [n / (n + z^2), 1]
    z2 = stats.Z95**2
    assert stats.wilson_interval(0, 10) == (0.0, pytest.approx(z2 / (10 + z2)))
    assert stats.wilson_interval(10, 10) == (pytest.approx(10 / (10 + z2)), 1.0)
    lo, hi = stats.wilson_interval(9000, 10000)  # ±0.59 points at 90 % on 10,000 images
    assert lo == pytest.approx(0.894, abs=5e-4) and hi == pytest.approx(0.9057, abs=5e-4)


@pytest.mark.parametrize("correct, n", [(-1, 10), (11, 10), (0, 0)])
def test_wilson_interval_refuses_impossible_counts(correct, n):
    with pytest.raises(ValueError, match="correct"):
        stats.wilson_interval(correct, n)


@pytest.mark.parametrize("b, c, p", [
    (0, 5, 2 / 32),            # 2 * C(5,0) / 2^5
    (1, 9, 2 * 11 / 1024),     # 2 * (C(10,0) + C(10,1)) / 2^10
    (9, 1, 2 * 11 / 1024),     # symmetric
    (0, 1, 1.0),               # 2 * 1/2, capped at 1
    (3, 3, 1.0),
    (0, 0, 1.0),               # no discordant image: no evidence either way
    (2, 10, 2 * (1 + 12 + 66) / 4096),
])
def test_mcnemar_exact_matches_hand_computed_values(b, c, p):
    assert stats.mcnemar_exact(b, c) == pytest.approx(p, rel=1e-12)


def test_bits_round_trip_and_length_check():
    right = np.array([True, False, True, True, False, False, False, True, True])
    blob = stats.pack_bits(right)
    assert blob == bytes([0b10110001, 0b10000000])
    assert stats.unpack_bits(blob, 9).tolist() == right.tolist()
    with pytest.raises(ValueError, match="expected 20"):
        stats.unpack_bits(blob, 20)


def _evaluated(name: str, right: list[bool], split: str = "s1") -> stats.Evaluated:
    return stats.Evaluated(name, split, len(right), stats.pack_bits(right))


def test_paired_counts_discordant_images_and_gives_a_verdict():
    a = [True] * 30 + [False] * 10 + [True] * 2
    b = [True] * 30 + [True] * 10 + [False] * 2  # B right on 10 A missed, wrong on 2 A had
    test = stats.paired(_evaluated("a", a), _evaluated("b", b))
    assert (test.only_a, test.only_b, test.n) == (2, 10, 42)
    assert test.p_value == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert test.verdict == stats.BETTER
    assert stats.paired(_evaluated("b", b), _evaluated("a", a)).verdict == stats.WORSE
    assert stats.paired(_evaluated("a", a), _evaluated("a2", a)).verdict == stats.SAME


def test_paired_refuses_different_splits_and_missing_bits():
    a, b = _evaluated("A", [True, False]), _evaluated("B", [True, True], split="other")
    with pytest.raises(stats.SplitMismatch, match="different test splits") as e:
        stats.paired(a, b)
    assert "\n" not in str(e.value)
    with pytest.raises(stats.SplitMismatch, match="different test splits"):
        stats.paired(a, _evaluated("C", [True, True, False]))  # same hash, other size
    with pytest.raises(stats.SplitMismatch, match="no per-image correctness"):
        stats.paired(a, stats.Evaluated("old", None, None, None))


def test_t_quantiles_and_mean_interval():
    table = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 9: 2.2622, 30: 2.0423}
    for df, t in table.items():
        assert stats.t_quantile(df) == pytest.approx(t, abs=1e-4)
    m = stats.mean_interval([90.0, 91.0, 92.0])  # mean 91, std 1, half 4.3027 / sqrt(3)
    assert (m.mean, m.std, m.n) == (91.0, 1.0, 3)
    assert m.lo == pytest.approx(91 - 4.30265 / math.sqrt(3), abs=1e-4)
    assert m.hi == pytest.approx(91 + 4.30265 / math.sqrt(3), abs=1e-4)
    one = stats.mean_interval([90.0])
    assert one.mean == 90.0 and math.isnan(one.lo)


def test_ratio_interval_adds_log_half_widths_in_quadrature():
    ratio, lo, hi = stats.ratio_interval((2.0, 2.0 / 1.1, 2.2), (1.0, 1 / 1.1, 1.1))
    assert ratio == 2.0
    spread = math.exp(math.sqrt(2) * math.log(1.1))
    assert lo == pytest.approx(2.0 / spread) and hi == pytest.approx(2.0 * spread)
    with pytest.raises(ValueError, match="positive"):
        stats.ratio_interval((1.0, 0.0, 2.0), (1.0, 0.5, 2.0))


class _FirstPixel(nn.Module):
    """A 'model' whose logits are fixed by the first pixel: predictions known in advance."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cls = (x[:, 0, 0, 0] > 0).long()
        return nn.functional.one_hot(cls, 10).float()


def _dataset(pixels: list[int], labels: list[int]) -> TensorImageDataset:
    images = torch.zeros(len(pixels), 1, 2, 2, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.tensor(pixels, dtype=torch.uint8)
    return TensorImageDataset(images, torch.tensor(labels), mean=[0.0], std=[1.0])


def test_evaluate_records_counts_bits_and_split_hash():
    data = _dataset([0, 200, 200, 0, 0], [0, 1, 0, 0, 3])  # predicts 0, 1, 1, 0, 0
    result = evaluate(_FirstPixel(), data)
    assert (result.images, result.correct1) == (5, 3)
    assert stats.unpack_bits(result.top1_bits, 5).tolist() == [True, True, False, True, False]
    assert result.top1 == 60.0
    other = evaluate(_FirstPixel(), _dataset([0, 200, 200, 0, 0], [0, 1, 0, 0, 4]))
    assert other.split_hash != result.split_hash  # one label differs: another split
    assert evaluate(_FirstPixel(), data).split_hash == result.split_hash


def test_v1_file_opens_and_migrates_to_the_interval_columns(tmp_path):
    path = tmp_path / "v1.duckdb"
    with duckdb.connect(str(path)) as con:
        schema.migrate(con, 0, "0.0.old", {1: schema.MIGRATIONS[1]})
        con.execute("INSERT INTO checkpoints (checkpoint_key, model, dataset, pattern, top1, "
                    "created_at) VALUES ('k1', 'resnet20', 'fashion-mnist', 'dense', 91.5, "
                    "now())")
    store = results.Store(path)
    assert store.version == schema.SCHEMA_VERSION >= 2
    row = store.query("SELECT * FROM checkpoints").iloc[0]
    assert row["top1"] == 91.5 and row["checkpoint_key"] == "k1"
    for column in ("top1_lo", "top1_hi", "top5_lo", "top5_hi", "test_images",
                   "test_split_hash", "top1_correct"):
        assert column in store.columns("checkpoints")
        assert pd.isna(row[column])  # NULL on the migrated row
    assert {"median_lo_s", "median_hi_s"} <= set(store.columns("measurements"))
    assert store.columns("checkpoints")["top1_correct"] == "BLOB"
