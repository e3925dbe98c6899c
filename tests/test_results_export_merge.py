"""Export (one Parquet/CSV file per table) and merge (several machines, no duplicates)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

import results
from results import samples, schema


def _filled(path, cores=2, threads=(1, 2)):
    """A results file from a machine with ``cores`` cores, one finished run."""
    store = results.Store(path)
    run_id = store.begin_run("s", "", samples.machine(cores=cores), samples.software(), "c", False)
    ck = samples.checkpoint()
    rows = [samples.measurement(threads=t, checkpoint_key=ck["checkpoint_key"]) for t in threads]
    store.add_rows(run_id, measurements=rows, checkpoints=[ck])
    store.end_run(run_id, "finished")
    return store


def _counts(store):
    return {t: int(store.query(f"SELECT count(*) AS n FROM {t}").n[0]) for t in schema.DATA_TABLES}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_writes_one_file_per_table(tmp_path, fmt):
    store = _filled(tmp_path / "r.duckdb")
    written = store.export(tmp_path / "out", fmt)
    assert [p.name for p in written] == [f"{t}.{fmt}" for t in schema.DATA_TABLES]
    read = pd.read_parquet if fmt == "parquet" else pd.read_csv
    counts = _counts(store)
    for table, path in zip(schema.DATA_TABLES, written, strict=True):
        frame = read(path)
        assert len(frame) == counts[table]
        assert list(frame.columns) == list(store.columns(table))
    assert read(written[-1]).median_s.tolist() == store.measurements().median_s.tolist()


def test_export_bad_format_and_target(tmp_path):
    store = _filled(tmp_path / "r.duckdb")
    with pytest.raises(ValueError, match="unknown export format 'xlsx'"):
        store.export(tmp_path / "out", "xlsx")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        store.export(tmp_path / "file", "csv")


def test_merge_two_machines_without_duplicates(tmp_path):
    a = _filled(tmp_path / "a.duckdb", cores=2, threads=(1, 2))
    b = _filled(tmp_path / "b.duckdb", cores=64, threads=(1, 2, 4))
    dest = tmp_path / "all.duckdb"
    added = results.merge([a.path, b.path], dest)
    assert added == {"machines": 2, "software": 1, "runs": 2, "checkpoints": 1,
                     "measurements": 5}  # fmt: skip
    merged = results.Store(dest)
    assert _counts(merged) == added
    again = results.merge([a.path, b.path, dest.parent / "a.duckdb"], dest)
    assert set(again.values()) == {0}
    keys = merged.measurements().measurement_key
    assert keys.is_unique and set(keys) == set(a.measurements().measurement_key) | set(
        b.measurements().measurement_key
    )


def test_merge_refuses_foreign_newer_and_self_before_writing(tmp_path):
    a = _filled(tmp_path / "a.duckdb")
    dest = _filled(tmp_path / "dest.duckdb", cores=8)
    before = _counts(dest)
    foreign = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(foreign)) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    newer = tmp_path / "newer.duckdb"
    with duckdb.connect(str(newer)) as con:
        schema.migrate(con, 0, "9", {**schema.MIGRATIONS, schema.SCHEMA_VERSION + 1: []})
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for bad, match in [
        (foreign, "not a sparsebench results file"),
        (newer, "newer sparsebench"),
        (text, "cannot open"),
        (tmp_path / "absent.duckdb", "does not exist"),
        (dest.path, "is the destination"),
    ]:
        with pytest.raises(ValueError, match=match):
            results.merge([a.path, bad], dest.path)
    assert _counts(dest) == before
    with pytest.raises(ValueError, match="at least one source"):
        results.merge([], dest.path)
