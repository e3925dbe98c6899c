"""Schema step 'rekey' (v7): a file made before it gets the key of each row's configuration;
rows that now repeat a configuration stay, flagged, behind the one readers see."""

from __future__ import annotations

import duckdb

import results
from results import rekey, schema

REKEY_STEP = next(v for v, steps in schema.MIGRATIONS.items()
                  if rekey.rekey_measurements in steps)
COLUMNS = ("measurement_key", "run_id", "scope", "model", "backend", "device", "pattern",
           "threads", "batch", "status", "median_s", "invalid_reason", "machine_id",
           "software_id", "created_at")


def _old_file(path, rows):
    before = {v: steps for v, steps in schema.MIGRATIONS.items() if v < REKEY_STEP}
    with duckdb.connect(str(path)) as con:
        schema.migrate(con, 0, "old", before)
        con.execute("INSERT INTO runs (run_id, spec_name, spec_hash, started_at, status, "
                    "machine_id, software_id) VALUES ('r', 'old', 'h', now(), 'finished', "
                    "'m', 's')")
        marks = ", ".join("?" * len(COLUMNS))
        for row in rows:
            con.execute(f"INSERT INTO measurements ({', '.join(COLUMNS)}) VALUES ({marks})",
                        row)


def _row(key, status, minute, threads=1, reason=None):
    median = 0.01 if status == "ok" else None
    return [key, "r", "model", "resnet20", "c", "cpu", "dense", threads, 1, status, median,
            reason, "m", "s", f"2026-01-01 00:{minute:02d}:00"]


def test_rows_get_their_configuration_key_and_repeats_are_flagged(tmp_path):
    path = tmp_path / "old.duckdb"
    _old_file(path, [
        _row("error-first", "error", 0),  # older, but failed: the 'ok' row is kept
        _row("ok-later", "ok", 1),
        _row("ok-last", "ok", 2),
        _row("flagged", "ok", 3, reason="timed on 1 thread"),  # its own reason stays
        _row("other", "ok", 4, threads=2),  # another configuration: its own key
    ])
    store = results.Store(path, create=False)
    rows = store.query('SELECT * FROM "old".main.measurements ORDER BY created_at')
    seen = store.measurements()
    assert len(rows) == 5 and len(seen) == 2  # nothing dropped; one row per configuration
    key = results.measurement_key(seen[seen.threads == 1].iloc[0].to_dict())
    by_old = rows.set_index("created_at")["measurement_key"].tolist()
    assert by_old[1] == key and by_old[4] != key  # the first 'ok' row holds the key
    assert by_old[0] == "error-first" and by_old[2] == "ok-last" and by_old[3] == "flagged"
    reasons = rows["invalid_reason"].tolist()
    assert reasons[0] == reasons[2] == rekey.DUPLICATE.format(key=key)
    assert reasons[3] == "timed on 1 thread"
