"""Schema: a new file gets the versioned schema and marker; foreign, newer and half-migrated
files are refused or left intact."""

from __future__ import annotations

import duckdb
import pytest

import results
from results import schema


def test_new_file_has_schema_marker_and_version(tmp_path):
    store = results.Store(tmp_path / "r.duckdb")
    assert store.version == schema.SCHEMA_VERSION
    meta = store.query("SELECT key, value FROM sparsebench_meta")
    assert dict(zip(meta.key, meta.value, strict=True))["format"] == schema.FORMAT_MARKER
    versions = store.query("SELECT version FROM schema_version ORDER BY version")
    assert versions.version.tolist() == sorted(schema.MIGRATIONS)
    for table, key in schema.PRIMARY_KEYS.items():
        assert key in store.columns(table)


def test_reopening_keeps_rows(tmp_path):
    path = tmp_path / "r.duckdb"
    store = results.Store(path)
    run_id = store.begin_run("s", "x = 1", {"cpu_model": "c"}, {"python": "3"}, "abc", False)
    again = results.Store(path)
    assert again.runs().run_id.tolist() == [run_id]
    assert again.query("SELECT count(*) AS n FROM schema_version").n[0] == schema.SCHEMA_VERSION


def test_text_file_is_refused_in_one_line(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("just some notes\n" * 100)
    with pytest.raises(ValueError, match="cannot open .* as a sparsebench results database") as e:
        results.Store(path)
    assert "\n" not in str(e.value)
    assert path.read_text().startswith("just some notes")


def test_foreign_duckdb_file_is_refused(tmp_path):
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(ValueError, match="not a sparsebench results file"):
        results.Store(path)


def test_empty_duckdb_file_and_empty_placeholder_are_adopted(tmp_path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    assert results.Store(path).version == schema.SCHEMA_VERSION
    placeholder = tmp_path / "touched.duckdb"
    placeholder.touch()
    assert results.Store(placeholder).version == schema.SCHEMA_VERSION


def test_missing_file_without_create_and_directory_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no results database"):
        results.Store(tmp_path / "absent.duckdb", create=False)
    assert not (tmp_path / "absent.duckdb").exists()
    with pytest.raises(ValueError, match="is a directory"):
        results.Store(tmp_path)


def _newer_file(path):
    """A file migrated by a (simulated) newer sparsebench: schema v(current+1)."""
    newer = {**schema.MIGRATIONS, schema.SCHEMA_VERSION + 1: [
        "ALTER TABLE measurements ADD COLUMN energy_j DOUBLE"]}  # fmt: skip
    with duckdb.connect(str(path)) as con:
        schema.migrate(con, 0, "9.9", newer)


def test_newer_schema_is_refused_with_upgrade_hint(tmp_path):
    path = tmp_path / "newer.duckdb"
    _newer_file(path)
    version = schema.SCHEMA_VERSION + 1
    with pytest.raises(ValueError, match=rf"newer sparsebench \(schema v{version}.*upgrade"):
        results.Store(path)


def test_failing_migration_changes_nothing(tmp_path):
    path = tmp_path / "r.duckdb"
    results.Store(path)
    broken = {**schema.MIGRATIONS, schema.SCHEMA_VERSION + 1: [
        "ALTER TABLE runs ADD COLUMN half_done INTEGER",
        "ALTER TABLE no_such_table ADD COLUMN x INTEGER",
    ]}  # fmt: skip
    with duckdb.connect(str(path)) as con, pytest.raises(duckdb.CatalogException):
        schema.migrate(con, schema.SCHEMA_VERSION, "9.9", broken)
    store = results.Store(path)
    assert store.version == schema.SCHEMA_VERSION
    assert "half_done" not in store.columns("runs")


def test_migrations_are_consecutive_from_one():
    assert sorted(schema.MIGRATIONS) == list(range(1, schema.SCHEMA_VERSION + 1))
