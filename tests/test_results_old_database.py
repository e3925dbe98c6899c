"""A results file written before the one measurement key (schema v5, commit d3ad7c8) opens,
is re-keyed, resumes its sweep without re-measuring anything and reports its frontier.

``tests/data/results_d3ad7c8.duckdb.gz`` is a real file made at that commit (see
``tests/data/README.md``): a tiny sweep (``results_d3ad7c8.toml``: ResNet-20 with two seeds,
dense + cs + unstructured, torch and C, layer and model scope, MobileNetV2-small layers on
random weights), then ``sparsebench kernels --db`` over three of the same MobileNet layers.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from frontier_points import of_frame, printed

import results
from reports import data
from results import schema

DATA = Path(__file__).parent / "data"
SPEC = DATA / "results_d3ad7c8.toml"
FRONTIER_COLUMNS = ["model", "dataset", "device", "threads", "batch", "backend", "pattern",
                    "params", "recipe", "seeds", "latency_s", "top1"]


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    path = tmp_path / "old.duckdb"
    with gzip.open(DATA / "results_d3ad7c8.duckdb.gz") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


@pytest.fixture
def old_db_here(old_db: Path) -> Path:
    """The old file as if it had been written here, by this software and kernel build: a
    changed machine, software stack or kernel source is a new configuration (measured
    again, rightly), so the resume below checks the keys, not this machine's history. The
    ids are rewritten in the v5 file, before the store opens and re-keys it."""
    from harness.backends import BACKENDS
    from harness.environment import capture_machine
    from sparsebench.provenance import software_versions

    ids = {"machine_id": results.machine_id(capture_machine()),
           "software_id": results.software_id(software_versions())}
    with duckdb.connect(str(old_db)) as con:
        for table in ("runs", "measurements"):
            con.execute(f"UPDATE {table} SET machine_id = ?, software_id = ?",
                        [ids["machine_id"], ids["software_id"]])
        for backend in ("torch", "c"):
            source = BACKENDS[backend].build_info().get("source_hash")
            con.execute("UPDATE measurements SET kernel_source_hash = ? WHERE backend = ?",
                        [source, backend])
    return old_db


def _all_measurements(store: results.Store) -> list[dict]:
    name = store.path.stem
    return store.query(f'SELECT * FROM "{name}".main.measurements').to_dict("records")


def _frontier(store: results.Store) -> list[dict]:
    return store.pareto()[FRONTIER_COLUMNS].to_dict("records")


def _expected_frontier() -> list[dict]:
    """The frontier the report of commit d3ad7c8 showed for this file (seeds averaged)."""
    return json.loads((DATA / "results_d3ad7c8.frontier.json").read_text())


def _same_points(found: list[dict], expected: list[dict]) -> None:
    assert len(found) == len(expected)
    for got, want in zip(found, expected, strict=True):
        for column in FRONTIER_COLUMNS:
            if isinstance(want[column], float):
                assert got[column] == pytest.approx(want[column], rel=1e-9), column
            else:
                assert got[column] == want[column], column


def _run(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return done


def test_old_file_is_rekeyed_keeping_every_row(old_db):
    with duckdb.connect(str(old_db), read_only=True) as con:
        (version,), = con.execute("SELECT max(version) FROM schema_version").fetchall()
        (before,), = con.execute("SELECT count(*) FROM measurements").fetchall()
    assert version == 5
    store = results.Store(old_db, create=False)
    assert store.version == schema.SCHEMA_VERSION
    rows = _all_measurements(store)
    assert len(rows) == before  # nothing dropped
    valid = [r for r in rows if not isinstance(r["invalid_reason"], str)]  # NULL: NaN here
    assert len(valid) == len(store.measurements()) > 0
    assert all(r["measurement_key"] == results.measurement_key(r) for r in valid)
    # `kernels --db` measured three MobileNet layers the sweep had measured: one
    # configuration each now, the later copies kept but flagged as duplicates of the first
    repeats = [r for r in rows if isinstance(r["invalid_reason"], str)]
    runs = store.runs().set_index("run_id")["spec_name"]
    assert {runs[r["run_id"]] for r in repeats} == {"kernels"}
    keys = {r["measurement_key"] for r in valid}
    assert all(r["invalid_reason"].split()[2] in keys for r in repeats)
    assert len(repeats) == len({(r["layer"], r["backend"], r["pattern"]) for r in repeats}) > 0


def test_old_file_resumes_without_measuring_and_keeps_its_frontier(old_db_here, tmp_path):
    old_db = old_db_here
    store = results.Store(old_db, create=False)
    before = {r["measurement_key"] for r in _all_measurements(store)}
    stored = len(store.measurements())  # the valid rows: one per configuration
    _same_points(_frontier(store), _expected_frontier())

    done = _run("bench", "--spec", str(SPEC), "--out", str(tmp_path / "out"), "--db",
                str(old_db), "--no-report", "--no-progress")
    summary = done.stdout.splitlines()[0]
    assert f"{stored} skipped" in summary and "timed" not in summary, summary
    assert {r["measurement_key"] for r in _all_measurements(store)} == before
    _same_points(_frontier(store), _expected_frontier())
    # the frontier the sweep printed is the report's
    assert printed(done.stdout) == of_frame(data.load(store).points) != set()


def test_kernels_db_on_the_old_file_adds_nothing(old_db_here):
    """The same configurations measured again by `sparsebench kernels --db` are the rows
    the file holds (written by the sweep): no new row."""
    old_db = old_db_here
    store = results.Store(old_db, create=False)
    before = len(_all_measurements(store))
    _run("kernels", "--models", "mobilenet_v2_small", "--patterns", "cs", "--sparsities",
         "0.5", "--layers", "3", "--threads", "1", "--batch", "1", "--budget", "0.01",
         "--db", str(old_db))
    assert len(_all_measurements(store)) == before
