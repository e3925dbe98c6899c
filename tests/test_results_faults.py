"""Faults, for real: a writer killed with SIGKILL mid-write, two writers at once, and a
file held by another process. The file must always open with every committed run intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import results
from results import samples

ROWS = 1500  # rows per run: large enough that a kill usually lands inside a write

WRITER = """
import sys
import results
from results import samples

path, tag, report_path, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows_per_run = int(sys.argv[5])
store = results.Store(path, timeout=60)
with open(report_path, "a") as report:
    i = 0
    while limit == 0 or i < limit:
        run_id = store.begin_run(tag, "", samples.machine(), samples.software(), None, None)
        rows = [samples.measurement(scope="layer", layer=f"{tag}-{i}-{j}")
                for j in range(rows_per_run)]
        store.add_rows(run_id, measurements=rows)
        store.end_run(run_id, "finished")
        report.write(run_id + "\\n")
        report.flush()
        i += 1
"""

HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("SELECT count(*) FROM runs").fetchall()
print("holding", flush=True)
time.sleep(120)
"""


def _writer(path, tag, report, limit=0, rows=ROWS):
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), tag, str(report), str(limit), str(rows)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _reported(report):
    return report.read_text().split() if report.exists() else []


def _wait_for(condition, timeout=90.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the writer")
        time.sleep(0.02)


def _rows_per_run(store):
    counts = store.query(
        "SELECT r.run_id, r.status, count(m.measurement_key) AS n FROM runs r "
        "LEFT JOIN measurements m USING (run_id) GROUP BY ALL"
    )
    return {row.run_id: (row.status, row.n) for row in counts.itertuples()}


@pytest.mark.parametrize("delay_s", [0.0, 0.15])
def test_sigkill_mid_write_keeps_every_committed_run(tmp_path, delay_s):
    path, report = tmp_path / "r.duckdb", tmp_path / "committed.txt"
    results.Store(path)
    child = _writer(path, "killed", report)
    try:
        _wait_for(lambda: len(_reported(report)) >= 2 or child.poll() is not None)
        assert child.poll() is None, child.stderr.read()
        time.sleep(delay_s)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    committed = _reported(report)
    store = results.Store(path)  # opens (replays the WAL) after the kill
    runs = _rows_per_run(store)
    for run_id in committed:
        assert runs[run_id] == ("finished", ROWS)
    for status, n in runs.values():  # the run being written: all of its rows or none
        assert n in (0, ROWS) and status in ("running", "finished")
    # and the file takes new writes
    run_id = store.begin_run("after", "", samples.machine(), samples.software(), None, None)
    store.add_rows(run_id, measurements=[samples.measurement(layer="after")])
    assert store.has_key("runs", run_id)


def test_two_writers_wait_for_each_other_and_readers_see_whole_runs(tmp_path):
    path = tmp_path / "r.duckdb"
    store = results.Store(path)
    rows, runs_each = 100, 3
    children = [_writer(path, tag, tmp_path / f"{tag}.txt", runs_each, rows) for tag in "ab"]
    seen = []
    while any(child.poll() is None for child in children):
        seen.append(int(store.query("SELECT count(*) AS n FROM measurements").n[0]))
        time.sleep(0.1)
    for child in children:
        assert child.returncode == 0, child.stderr.read()
    assert all(n % rows == 0 for n in seen)  # never half a run
    per_run = _rows_per_run(store)
    assert len(per_run) == 2 * runs_each
    assert set(per_run.values()) == {("finished", rows)}
    assert store.query("SELECT count(DISTINCT spec_name) AS n FROM runs").n[0] == 2


def test_file_held_by_another_process_fails_with_clear_message(tmp_path):
    path = tmp_path / "r.duckdb"
    results.Store(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        start = time.monotonic()
        with pytest.raises(results.StoreBusy, match=rf"locked by process {holder.pid}") as error:
            results.Store(path, timeout=0.5)
        assert time.monotonic() - start >= 0.4  # it waited before giving up
        assert "wait for it to finish" in str(error.value)
        assert "lock timeout" not in str(error.value)  # no setting raises it (issue 21 #14)
        assert isinstance(error.value, RuntimeError)
    finally:
        holder.kill()
        holder.wait()
    assert results.Store(path, timeout=5).runs().empty
