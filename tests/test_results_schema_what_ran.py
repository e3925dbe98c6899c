"""Schema step 'what ran' (v6): a file made before it opens, keeps its rows (their
kernel_function / kernel_layout read NULL) and stores both columns for new rows."""

from __future__ import annotations

import duckdb

import results
from results import samples, schema

WHAT_RAN_STEP = next(v for v, steps in schema.MIGRATIONS.items()
                     if "ALTER TABLE measurements ADD COLUMN kernel_function VARCHAR" in steps)


def test_old_file_migrates_keeping_rows_with_what_ran_null(tmp_path):
    path = tmp_path / "old.duckdb"
    before = {v: steps for v, steps in schema.MIGRATIONS.items() if v < WHAT_RAN_STEP}
    old_row = samples.measurement()
    with duckdb.connect(str(path)) as con:
        schema.migrate(con, 0, "old", before)
        assert "kernel_function" not in schema.table_columns(con)["measurements"]
        con.execute("INSERT INTO machines (machine_id) VALUES ('m')")
        con.execute("INSERT INTO software (software_id) VALUES ('s')")
        con.execute("INSERT INTO runs (run_id, spec_name, spec_hash, started_at, status, "
                    "machine_id, software_id) VALUES ('r', 'old', 'h', now(), 'finished', "
                    "'m', 's')")
        con.execute("INSERT INTO measurements (measurement_key, run_id, scope, model, backend, "
                    "kernel, device, pattern, median_s, status, machine_id, software_id, "
                    "created_at) VALUES ('k', 'r', 'model', ?, 'c', 'nm-avx512', 'cpu', 'nm', "
                    "?, 'ok', 'm', 's', now())", [old_row["model"], old_row["median_s"]])
    store = results.Store(path)
    assert store.version == schema.SCHEMA_VERSION >= WHAT_RAN_STEP
    assert {"kernel_function", "kernel_layout"} <= set(store.columns("measurements"))
    kept = store.measurements()
    assert kept.measurement_key.tolist() == ["k"] and kept.median_s[0] == old_row["median_s"]
    assert kept.kernel_function.isna().all() and kept.kernel_layout.isna().all()
    run_id = store.begin_run("new", "", {"cpu_model": "c"}, {"python": "3"}, None, None)
    store.add_rows(run_id, measurements=[samples.measurement(
        kernel_function="f32_spmm_ell16_2x8v_avx512", kernel_layout="shifted")])
    new = store.query("SELECT kernel_function, kernel_layout FROM measurements "
                      "WHERE run_id = ?", [run_id])
    assert new.to_dict("records") == [{"kernel_function": "f32_spmm_ell16_2x8v_avx512",
                                       "kernel_layout": "shifted"}]
