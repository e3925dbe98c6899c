"""Store: runs, one-transaction idempotent writes, queries as DataFrames, bad input."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import results
from results import samples


@pytest.fixture
def store(tmp_path):
    return results.Store(tmp_path / "r.duckdb")


def _begin(store, **machine):
    return store.begin_run(
        "quick", "[sweep]\nmodels = ['resnet20']\n", samples.machine(**machine),
        samples.software(), "0123abcd", True, notes={"why": "test"},
    )  # fmt: skip


def test_run_round_trip(store):
    run_id = _begin(store)
    ck = samples.checkpoint()
    added = store.add_rows(
        run_id,
        measurements=[samples.measurement(checkpoint_key=ck["checkpoint_key"])],
        checkpoints=[ck],
    )
    assert added == {"checkpoints": 1, "measurements": 1}
    store.end_run(run_id, "finished")
    run = store.runs().iloc[0]
    assert (run.run_id, run.status, run.git_commit, bool(run.git_dirty)) == (
        run_id, "finished", "0123abcd", True)  # fmt: skip
    assert run.ended_at >= run.started_at
    m = store.measurements().iloc[0]
    assert m.run_id == run_id and m.machine_id == run.machine_id
    assert m.software_id == run.software_id
    assert m.measurement_key == results.measurement_key(m.to_dict())
    assert m.pattern_params == '{"m": 4, "n": 2}'
    c = store.checkpoints().iloc[0]
    assert c.top1 == pytest.approx(0.9) and c.checkpoint_key == ck["checkpoint_key"]
    assert isinstance(store.machines(), pd.DataFrame) and len(store.software()) == 1


def test_machine_details_and_upsert(store):
    _begin(store, gpu_count=0, usable_cores=2)
    _begin(store, gpu_count=0, usable_cores=2, hostname="renamed")
    machines = store.machines()
    assert len(machines) == 1
    assert machines.details[0] == '{"arch": "x86_64", "gpu_count": 0, "usable_cores": 2}'
    assert len(store.runs()) == 2


def test_rerun_adds_no_duplicates(store):
    rows = [samples.measurement(threads=t) for t in (1, 2)]
    first = _begin(store)
    store.add_rows(first, measurements=rows, checkpoints=[samples.checkpoint()])
    second = _begin(store)
    again = store.add_rows(second, measurements=rows, checkpoints=[samples.checkpoint()])
    assert again == {"checkpoints": 0, "measurements": 0}
    assert store.measurements().run_id.tolist() == [first, first]
    key = store.measurements().measurement_key[0]
    assert store.has_key("measurements", key)
    assert not store.has_key("measurements", "0" * 64)


def test_ok_result_replaces_failed_one(store):
    run_id = _begin(store)
    failed = samples.measurement(
        status="error", message="pack failed", median_s=None, min_s=None, p90_s=None,
        stdev_s=None,
    )  # fmt: skip
    store.add_rows(run_id, measurements=[failed])
    assert store.add_rows(run_id, measurements=[samples.measurement()])["measurements"] == 1
    assert store.measurements().status.tolist() == ["ok"]
    assert store.add_rows(run_id, measurements=[failed])["measurements"] == 0
    assert store.measurements().status.tolist() == ["ok"]


def test_dataframe_rows_are_accepted(store):
    run_id = _begin(store)
    frame = pd.DataFrame([samples.measurement(threads=t) for t in (1, 2, 4)])
    frame.loc[1, "median_s"] = float("nan")
    frame.loc[1, ["min_s", "p90_s", "stdev_s"]] = float("nan")
    frame.loc[1, "status"] = "wrong"
    assert store.add_rows(run_id, measurements=frame)["measurements"] == 3
    stored = store.query("SELECT threads, median_s FROM measurements ORDER BY threads")
    assert stored.threads.tolist() == [1, 2, 4]
    assert stored.median_s.isna().tolist() == [False, True, False]


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"colour": "red"}, "unknown columns colour"),
        ({"status": "fine"}, "rejected by the schema"),
        ({"status": "error"}, "rejected by the schema"),  # a failed row carrying a time
        ({"scope": "network"}, "rejected by the schema"),
        ({"threads": "two"}, "threads must be INTEGER"),
        ({"pattern_params": "{oops"}, "pattern_params must hold JSON"),
    ],
)
def test_bad_rows_are_refused_and_nothing_is_written(store, bad, match):
    run_id = _begin(store)
    good = samples.measurement(threads=8)
    with pytest.raises(ValueError, match=match) as error:
        store.add_rows(
            run_id, measurements=[good, samples.measurement(**bad)],
            checkpoints=[samples.checkpoint()],
        )  # fmt: skip
    assert "\n" not in str(error.value)
    assert store.measurements().empty and store.checkpoints().empty


def test_bad_arguments(store):
    run_id = _begin(store)
    with pytest.raises(ValueError, match="no run"):
        store.add_rows("nope", measurements=[samples.measurement()])
    with pytest.raises(ValueError, match="run status 'done' unknown"):
        store.end_run(run_id, "done")
    with pytest.raises(ValueError, match="unknown table"):
        store.has_key("people", "x")
    with pytest.raises(ValueError, match="query failed: Parser Error"):
        store.query("SELEC 1")
    with pytest.raises(ValueError, match="read-only"):
        store.query("DELETE FROM runs")
    assert len(store.runs()) == 1


def test_store_holds_no_connection_between_calls(store):
    _begin(store)
    store.query("SELECT 1")
    script = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
        "c.execute(\"UPDATE runs SET notes = '{}'\"); print(c.execute("
        "'SELECT count(*) FROM runs').fetchone()[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(store.path)], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


def test_dataframe_with_partly_missing_keys_gets_them_computed(store):
    run_id = _begin(store)
    given = samples.measurement(threads=1, measurement_key="k" * 64)
    frame = pd.DataFrame([given, samples.measurement(threads=2)])
    assert store.add_rows(run_id, measurements=frame)["measurements"] == 2
    stored = store.query("SELECT threads, measurement_key FROM measurements ORDER BY threads")
    assert stored.measurement_key[0] == "k" * 64
    assert len(stored.measurement_key[1]) == 64 and stored.measurement_key[1] != "k" * 64


def test_end_run_checkpoints_the_wal(store):
    run_id = _begin(store)
    store.add_rows(run_id, measurements=[samples.measurement()])
    store.end_run(run_id, "finished")
    wal = store.path.with_name(store.path.name + ".wal")
    assert not wal.exists() or wal.stat().st_size == 0
