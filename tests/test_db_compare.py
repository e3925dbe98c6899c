"""`sparsebench db compare A B`: intervals, McNemar and the latency ratio, one line each;
bad input (unknown, ambiguous, different test splits) is one line and exit status 2."""

from __future__ import annotations

import pytest

import results
from harness.cli import main
from reports import sample
from results import stats


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("compare") / "r.duckdb"
    store = results.Store(path)
    sample.fill(store, sample.SampleSpec(seeds=(0,), layers=2))
    sample.fill(store, sample.SampleSpec(seeds=(0,), layers=2, dataset="other-split",
                                         test_images=1000))
    return path


def _keys(db, pattern: str, dataset: str = "fashion-mnist") -> str:
    frame = results.Store(db).query(
        "SELECT checkpoint_key FROM checkpoints WHERE pattern = ? AND dataset = ?",
        [pattern, dataset])
    return frame["checkpoint_key"].iloc[0]


def test_compare_prints_intervals_mcnemar_and_latency_ratio(db, capsys):
    dense, filt = _keys(db, "dense"), _keys(db, "filter")
    assert main(["db", "compare", dense, filt[:12], "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("A  resnet20 dense") and "[" in lines[0] and "n=2,000" in lines[0]
    assert lines[1].startswith("B  resnet20 filter(50%)")
    store = results.Store(db)
    rows = store.query("SELECT checkpoint_key, test_images, top1_correct, test_split_hash "
                       "FROM checkpoints WHERE checkpoint_key IN (?, ?)", [dense, filt])
    by_key = {r.checkpoint_key: stats.Evaluated(r.checkpoint_key, r.test_split_hash,
                                                int(r.test_images), bytes(r.top1_correct))
              for r in rows.itertuples()}
    expected = stats.paired(by_key[dense], by_key[filt])
    assert lines[2].startswith("McNemar (exact, 2,000 paired images)")
    assert f"p = {expected.p_value:.3g}" in lines[2]
    assert f"A only right {expected.only_a}, B only right {expected.only_b}" in lines[2]
    latency = [line for line in lines if line.startswith("latency B/A")]
    assert latency and "×" in latency[0] and "[" in latency[0]


def test_compare_by_pattern_label_with_model_and_dataset_narrowing(db, capsys):
    args = ["db", "compare", "dense", "nm(n=2,m=4)", "--db", str(db)]
    assert main(args) == 2  # two data sets hold a 'dense': ambiguous
    err = capsys.readouterr().err.strip()
    assert "matches 2 checkpoints" in err and "\n" not in err
    assert main(["db", "compare", _keys(db, "dense"), _keys(db, "nm"), "--db", str(db)]) == 0


def test_compare_refuses_checkpoints_from_different_test_splits(db, capsys):
    a, b = _keys(db, "dense"), _keys(db, "filter", dataset="other-split")
    assert main(["db", "compare", a, b, "--db", str(db)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "different test splits" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["nosuchthing", "dense"], "no checkpoint matches 'nosuchthing'"),
])
def test_compare_bad_input_is_one_line_exit_2(db, capsys, args, message):
    assert main(["db", "compare", *args, "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_compare_missing_database_is_bad_input(tmp_path, capsys):
    assert main(["db", "compare", "a", "b", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "no results database" in capsys.readouterr().err
