"""Schema step 'what ran' (v6): a file made before it opens, keeps its rows (their
kernel_function / kernel_layout read NULL) and stores both columns for new rows."""

from __future__ import annotations

from datetime import datetime

import duckdb

import results
from results import samples, schema

NOW = datetime(2026, 1, 1)
WHAT_RAN_STEP = next(v for v, steps in schema.MIGRATIONS.items()
                     if "ALTER TABLE measurements ADD COLUMN kernel_function VARCHAR" in steps)


def test_old_file_migrates_keeping_rows_with_what_ran_null(tmp_path):
    path = tmp_path / "old.duckdb"
    before = {v: steps for v, steps in schema.MIGRATIONS.items() if v < WHAT_RAN_STEP}
    old_row = samples.measurement()
    with duckdb.connect(str(path)) as con:
        schema.migrate(con, 0, "old", before)
        assert "kernel_function" not in schema.table_columns(con)["measurements"]
        for table, row in (
                ("machines", {"machine_id": "m"}), ("software", {"software_id": "s"}),
                ("runs", {"run_id": "r", "spec_name": "old", "spec_hash": "h",
                          "started_at": NOW, "status": "finished", "machine_id": "m",
                          "software_id": "s"}),
                ("measurements", {"measurement_key": "k", "run_id": "r", "scope": "model",
                                  "model": old_row["model"], "backend": "c",
                                  "kernel": "nm-avx512", "device": "cpu", "pattern": "nm",
                                  "median_s": old_row["median_s"], "status": "ok",
                                  "machine_id": "m", "software_id": "s", "created_at": NOW})):
            con.execute(f"INSERT INTO {table} ({', '.join(row)}) "
                        f"VALUES ({', '.join('?' * len(row))})", list(row.values()))
    store = results.Store(path)
    assert store.version == schema.SCHEMA_VERSION >= WHAT_RAN_STEP
    assert {"kernel_function", "kernel_layout"} <= set(store.columns("measurements"))
    kept = store.measurements()
    # the row is kept (re-keyed by its configuration in a later step, results/rekey.py)
    assert len(kept) == 1 and kept.kernel[0] == "nm-avx512"
    assert kept.median_s[0] == old_row["median_s"]
    assert kept.kernel_function.isna().all() and kept.kernel_layout.isna().all()
    run_id = store.begin_run("new", "", {"cpu_model": "c"}, {"python": "3"}, None, None)
    store.add_rows(run_id, measurements=[samples.measurement(
        kernel_function="f32_spmm_ell16_2x8v_avx512", kernel_layout="shifted")])
    new = store.query("SELECT kernel_function, kernel_layout FROM measurements "
                      "WHERE run_id = ?", [run_id])
    assert new.to_dict("records") == [{"kernel_function": "f32_spmm_ell16_2x8v_avx512",
                                       "kernel_layout": "shifted"}]
