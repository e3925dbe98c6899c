"""Schema step 'engines': a file made before it opens, keeps its rows, takes any backend
name and gains the p99_s and precision columns."""

from __future__ import annotations

import duckdb
import pytest

import results
from results import samples, schema

ENGINES_STEP = next(v for v, steps in schema.MIGRATIONS.items()
                    if "ALTER TABLE measurements ADD COLUMN p99_s DOUBLE" in steps)


def test_old_file_migrates_keeping_rows_and_accepts_engine_backends(tmp_path):
    path = tmp_path / "old.duckdb"
    before = {v: steps for v, steps in schema.MIGRATIONS.items() if v < ENGINES_STEP}
    with duckdb.connect(str(path)) as con:
        schema.migrate(con, 0, "old", before)
        with pytest.raises(duckdb.ConstraintException):  # the old CHECK on backend names
            con.execute("INSERT INTO measurements (measurement_key, run_id, scope, backend, "
                        "device, pattern, status, machine_id, software_id, created_at) VALUES "
                        "('x', 'r', 'model', 'onnxruntime', 'cpu', 'dense', 'ok', 'm', 's', "
                        "now())")
    old_row = samples.measurement()
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO machines (machine_id) VALUES ('m')")
        con.execute("INSERT INTO software (software_id) VALUES ('s')")
        con.execute("INSERT INTO runs (run_id, spec_name, spec_hash, started_at, status, "
                    "machine_id, software_id) VALUES ('r', 'old', 'h', now(), 'finished', "
                    "'m', 's')")
        con.execute("INSERT INTO measurements (measurement_key, run_id, scope, model, backend, "
                    "device, pattern, median_s, status, machine_id, software_id, created_at) "
                    "VALUES ('k', 'r', 'model', ?, 'c', 'cpu', 'nm', ?, 'ok', 'm', 's', now())",
                    [old_row["model"], old_row["median_s"]])
    store = results.Store(path)
    assert store.version == schema.SCHEMA_VERSION
    assert {"p99_s", "precision"} <= set(store.columns("measurements"))
    kept = store.measurements()
    assert kept.median_s.tolist() == [old_row["median_s"]]  # kept, re-keyed by v7
    assert kept.measurement_key[0] == results.measurement_key(kept.iloc[0].to_dict())
    run_id = store.begin_run("new", "", {"cpu_model": "c"}, {"python": "3"}, None, None)
    store.add_rows(run_id, measurements=[samples.measurement(
        backend="onnxruntime", kernel="onnxruntime-cpu", pattern="dense", pattern_params={},
        p99_s=0.02, precision="fp32")])
    new = store.query("SELECT backend, p99_s, precision FROM measurements WHERE run_id = ?",
                      [run_id])
    assert new.to_dict("records") == [{"backend": "onnxruntime", "p99_s": 0.02,
                                       "precision": "fp32"}]


def test_status_check_survives_the_rebuild(tmp_path):
    store = results.Store(tmp_path / "r.duckdb")
    run_id = store.begin_run("new", "", {"cpu_model": "c"}, {"python": "3"}, None, None)
    with pytest.raises(ValueError, match="rejected by the schema"):
        store.add_rows(run_id, measurements=[samples.measurement(status="wrong")])
