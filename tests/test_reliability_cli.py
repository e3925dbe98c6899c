"""Faults a hostile test found (issue 21), each through the real CLI (``python -m harness``)
on real DuckDB files: what the user sees is one line and exit status 2 (bad input), nothing
already stored is lost, and no figure is stored for a thread count it was not timed at."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import results
from results import samples, schema

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300
        ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def one_line_error(proc: subprocess.CompletedProcess, needle: str, status: int = 2) -> None:
    assert proc.returncode == status, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sparsebench: error: "), proc.stderr[-2000:]
    assert needle in lines[0], lines[0]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    store = results.Store(tmp_path / "r.duckdb")
    run_id = store.begin_run("quick", "", samples.machine(), samples.software(), "abc", False)
    store.add_rows(run_id, measurements=[samples.measurement(threads=t) for t in (1, 2)])
    store.end_run(run_id, "finished")
    return store.path


# --- 1: rows stored with a thread count they were not timed at ------------------------------

def _v1_file(path: Path, rows: list[dict]) -> None:
    """A results file as sparsebench wrote it before schema v2, holding ``rows``."""
    with duckdb.connect(str(path)) as con:
        schema.migrate(con, 0, "old", migrations={1: schema.MIGRATIONS[1]})
        frame = pd.DataFrame([{**row, "pattern_params": json.dumps(row["pattern_params"]),
                               "measurement_key": f"k{i}", "run_id": "r", "machine_id": "m",
                               "software_id": "s", "created_at": datetime(2026, 1, 1)}
                              for i, row in enumerate(rows)])
        con.register("old_rows", frame)
        con.execute("INSERT INTO measurements BY NAME SELECT * FROM old_rows")


def test_migration_flags_old_c_layer_rows_and_readers_leave_them_out(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    layer = {"scope": "layer", "layer": "layer1.0.conv1", "layer_kind": "3x3"}
    _v1_file(path, [samples.measurement(**layer, threads=2),                  # wrong figure
                    samples.measurement(**layer, threads=1),                  # right
                    samples.measurement(**layer, threads=2, backend="torch"),  # torch pinned
                    samples.measurement(threads=2)])                          # model: right
    proc = cli("db", "query", "SELECT threads, backend, scope FROM measurements ORDER BY ALL",
               "--format", "json", "--db", str(path))
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert len(seen) == 3 and {"threads": 2, "backend": "c", "scope": "layer"} not in seen
    store = results.Store(path)
    assert store.version == schema.SCHEMA_VERSION and len(store.measurements()) == 3
    flagged = store.query('SELECT threads, invalid_reason FROM "old".main.measurements '
                          "WHERE invalid_reason IS NOT NULL")
    assert flagged.threads.tolist() == [2]
    assert flagged.invalid_reason[0] == schema.C_LAYER_ONE_THREAD


_LAYER_JOB = """
import json, sys
from pathlib import Path
import kernels_c, results
from harness.backends import BACKENDS
from harness.context import SweepContext
from harness.measure import run_layer
from harness.plan import LayerJob
from harness.layers import zoo_prunable_layers
from harness.spec import parse_spec
from results import samples

calls = []
original = kernels_c.PreparedConv.__call__
def spy(self, x, threads=1, **kw):
    y = original(self, x, threads, **kw)
    calls.append((threads, getattr(self, "threads_used", None)))
    return y
kernels_c.PreparedConv.__call__ = spy

spec = parse_spec('name = "t"\\nbackends = ["c"]\\nthreads = [2]\\n[timing]\\nwarmup = 0\\n'
                  'min_repeats = 2\\nmax_repeats = 3\\nbudget_s = 0.01')
store = results.Store(Path(sys.argv[1]))
run_id = store.begin_run("t", "", samples.machine(), samples.software(), None, None)
ctx = SweepContext(spec, run_id, Path(sys.argv[1]).parent, "m", "s",
                   {"c": BACKENDS["c"].build_info()})
layer = zoo_prunable_layers("resnet20")[0].name
run_layer(LayerJob("resnet20", layer, "c", "cpu", 2, 1, "dense", "{}", 0.0, None), ctx)
store.add_rows(run_id, measurements=ctx.take().measurements)
row = store.query("SELECT threads, status, message FROM measurements").iloc[0]
print(json.dumps({"calls": calls, "threads": int(row.threads), "status": row.status,
                  "message": row.message}))
"""


def _layer_job(tmp_path: Path, env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", _LAYER_JOB, str(tmp_path / "r.duckdb")],
                          capture_output=True, text=True, cwd=REPO, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_c_layer_row_is_timed_at_the_thread_count_it_records(tmp_path: Path) -> None:
    """Every kernel call of a threads=2 layer job asks for and runs on 2 threads."""
    found = _layer_job(tmp_path)
    assert found["status"] == "ok" and found["threads"] == 2
    assert len(found["calls"]) >= 3 and {tuple(c) for c in found["calls"]} == {(2, 2)}


def test_a_kernel_that_ran_on_fewer_threads_gets_no_timing(tmp_path: Path) -> None:
    """OpenMP capped at one thread: the kernel reports 1, so the row is not an 'ok' timing
    at 2 -- it stores what the kernel ran on and says why it was not timed."""
    found = _layer_job(tmp_path, {"OMP_THREAD_LIMIT": "1"})
    assert found["status"] == "error" and found["threads"] == 1
    assert "ran on [1] threads, asked for 2" in found["message"]


def test_kernel_thread_limit_is_checked_before_work() -> None:
    one_line_error(cli("kernels", "--models", "resnet20", "--threads", "5000"),
                   "--threads 5000: the C kernels take at most 1024")


# --- 2: --db naming a special or missing file ----------------------------------------------

def test_db_naming_a_fifo_is_refused_and_left_alone(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for args in (("db", "summary", "--db", str(fifo)),
                 ("bench", "--preset", "quick", "--db", str(fifo), "--out", str(tmp_path))):
        one_line_error(cli(*args), "is not a regular file")
        assert fifo.is_fifo()


def test_db_summary_never_creates_a_database(tmp_path: Path) -> None:
    missing, empty = tmp_path / "missing.duckdb", tmp_path / "empty.duckdb"
    empty.touch()
    one_line_error(cli("db", "summary", "--db", str(missing)), "no results database")
    assert not missing.exists()
    one_line_error(cli("db", "summary", "--db", str(empty)), "is empty, not a results database")
    assert empty.stat().st_size == 0


# --- 3: db query cannot write --------------------------------------------------------------

def test_db_query_cannot_attach_copy_or_drop(db: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    results.Store(other)
    link = tmp_path / "link.duckdb"
    os.link(db, link)
    before = {p: p.read_bytes() for p in (db, other)}
    out_csv = tmp_path / "leak.csv"
    for sql in (f"ATTACH '{other}' AS o (READ_WRITE); DROP TABLE o.measurements",
                f"ATTACH '{link}' AS h (READ_WRITE); DELETE FROM h.measurements",
                f"COPY (SELECT * FROM measurements) TO '{out_csv}'",
                "DROP TABLE measurements",
                "SET enable_external_access = true",
                f"SELECT * FROM read_csv('{tmp_path / 'x.csv'}')"):
        proc = cli("db", "query", sql, "--db", str(db))
        assert proc.returncode == 2, (sql, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "query failed" in proc.stderr, proc.stderr
    assert not out_csv.exists()
    assert {p: p.read_bytes() for p in (db, other)} == before
    assert len(results.Store(db).measurements()) == 2


# --- 6: SQL with no statement --------------------------------------------------------------

@pytest.mark.parametrize("sql", ["", ";", "-- x"])
def test_db_query_without_a_statement(db: Path, sql: str) -> None:
    one_line_error(cli("db", "query", sql, "--db", str(db)), "holds no query that returns rows")


# --- 7, 8, 15: spec errors before any work -------------------------------------------------

@pytest.mark.parametrize(("text", "needle"), [
    ('[[patterns]]\nname = "nm"\nsparsities = [0.5]\nparams = {n = "two", m = 4}',
     "pattern 'nm' params"),
    ("threads = [10000]", "threads must be in 1..1024, got 10000"),
    ("[timing]\nmax_repeats = 0", "[timing]"),
    ("models = []", "'models' and [latency] 'shape_models' are both empty"),
])
def test_bad_spec_is_refused_before_any_file_is_written(tmp_path: Path, text: str,
                                                        needle: str) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(f'name = "s"\n{text}\n')
    one_line_error(cli("bench", "--spec", str(spec), "--out", str(tmp_path / "out")), needle)
    assert not (tmp_path / "out").exists()


def test_binary_spec_file_is_named(tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    spec.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    one_line_error(cli("bench", "--spec", str(spec), "--out", str(tmp_path / "out")),
                   f"sweep file {spec} is not UTF-8 text")


# --- 10: output paths ----------------------------------------------------------------------

def test_output_paths_are_checked_before_work(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("keep me")
    one_line_error(cli("bench", "--preset", "quick", "--out", str(a_file)),
                   "is a file, not a folder")
    (tmp_path / "out" / "report").parent.mkdir()
    (tmp_path / "out" / "report").write_text("keep me")
    one_line_error(cli("bench", "--preset", "quick", "--out", str(tmp_path / "out")),
                   "report is a file, not a folder; move it away")
    one_line_error(cli("bench", "--preset", "quick", "--out", "/proc/sparsebench-out"),
                   "cannot write there")
    one_line_error(cli("kernels", "--models", "resnet20", "--csv", str(tmp_path)),
                   "is a folder; pass a file path")
    assert a_file.read_text() == "keep me"
    assert not (tmp_path / "out" / "results.duckdb").exists()


# --- 11, 15: environment variables ---------------------------------------------------------

def test_unwritable_cache_names_the_variable(tmp_path: Path) -> None:
    proc = cli("kernels", "--models", "resnet20", "--layers", "1",
               env={"SPARSEBENCH_CACHE": "/proc"})
    one_line_error(proc, "set SPARSEBENCH_CACHE to a writable folder")
    assert proc.stdout == ""  # nothing printed before the check


def test_sanitize_without_preload_says_how_to_run(tmp_path: Path) -> None:
    env = {"SPARSEBENCH_SANITIZE": "1", "LD_PRELOAD": "",
           "SPARSEBENCH_CACHE": str(tmp_path / "cache")}
    one_line_error(cli("kernels", "--models", "resnet20", "--layers", "1", env=env),
                   "LD_PRELOAD=$(gcc -print-file-name=libasan.so)")


# --- 9, 15: train flags --------------------------------------------------------------------

def test_unknown_train_device_and_init_folder(tmp_path: Path) -> None:
    base = ("train", "--model", "resnet20", "--dataset", "fashion-mnist", "--train-subset",
            "32", "--test-subset", "32", "--epochs", "1")
    one_line_error(cli(*base, "--device", "tpu", "--out", str(tmp_path / "a")),
                   "device 'tpu' unknown")
    one_line_error(cli(*base, "--pattern", "nm", "--recipe", "oneshot", "--init",
                       str(tmp_path), "--out", str(tmp_path / "b")),
                   "is a folder, not a checkpoint file")
