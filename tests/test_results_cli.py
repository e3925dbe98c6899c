"""`sparsebench db summary | query | export | merge` and `sparsebench env`, in-process."""

from __future__ import annotations

import json

import pytest

import results
from harness.cli import main
from results import samples
from results.schema import SCHEMA_VERSION
from sparsebench import provenance


@pytest.fixture
def db(tmp_path):
    store = results.Store(tmp_path / "r.duckdb")
    run_id = store.begin_run("quick", "", samples.machine(), samples.software(), "abc", False)
    store.add_rows(run_id, measurements=[samples.measurement(threads=t) for t in (1, 2)])
    store.end_run(run_id, "finished")
    return store.path


def test_summary(db, capsys):
    assert main(["db", "summary", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"schema v{SCHEMA_VERSION}" in out and "runs=1" in out and "measurements=2" in out
    assert "quick" in out and "finished" in out


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_query_formats(db, capsys, fmt):
    sql = "SELECT threads, status FROM measurements ORDER BY threads"
    assert main(["db", "query", sql, "--db", str(db), "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        assert json.loads(out) == [{"threads": 1, "status": "ok"}, {"threads": 2, "status": "ok"}]
    elif fmt == "csv":
        assert out.split() == ["threads,status", "1,ok", "2,ok"]
    else:
        assert out.split() == ["threads", "status", "1", "ok", "2", "ok"]


def test_query_default_db_from_environment(db, capsys, monkeypatch):
    monkeypatch.setenv("SPARSEBENCH_DB", str(db))
    assert main(["db", "query", "SELECT count(*) AS n FROM runs"]) == 0
    assert capsys.readouterr().out.split() == ["n", "1"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["db", "query", "SELEC nonsense"], "query failed: Parser Error"),
        (["db", "query", "DROP TABLE runs"], "read-only"),
        (["db", "query", "SELECT * FROM nope"], "query failed: Catalog Error"),
    ],
)
def test_bad_query_exits_2_with_one_line(db, capsys, argv, message):
    assert main([*argv, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_and_foreign_db_exit_2(tmp_path, capsys):
    assert main(["db", "summary", "--db", str(tmp_path / "absent.duckdb")]) == 2
    assert "no results database" in capsys.readouterr().err
    assert not (tmp_path / "absent.duckdb").exists()
    (tmp_path / "x.txt").write_text("not a database")
    assert main(["db", "summary", "--db", str(tmp_path / "x.txt")]) == 2
    assert "cannot open" in capsys.readouterr().err


def test_export_and_merge(db, tmp_path, capsys):
    assert main(["db", "export", "--db", str(db), "--out", str(tmp_path / "e"),
                 "--format", "csv"]) == 0  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == [
        "checkpoints.csv",
        "machines.csv",
        "measurements.csv",
        "runs.csv",
        "software.csv",
    ]
    dest = tmp_path / "merged.duckdb"
    assert main(["db", "merge", str(db), "--into", str(dest)]) == 0
    assert "+2 measurements" in capsys.readouterr().out
    assert main(["db", "merge", str(db), str(tmp_path / "e" / "runs.csv"),
                 "--into", str(dest)]) == 2  # fmt: skip
    assert "runs.csv" in capsys.readouterr().err


def test_env_prints_json(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the code described is sparsebench's, wherever env runs
    assert main(["env"]) == 0
    captured = json.loads(capsys.readouterr().out)
    assert set(captured) == {"machine", "software", "git", "code_fingerprint"}
    assert captured["machine"]["cores"] >= 1 and captured["software"]["python"]
    code = provenance.code_state()
    assert captured["git"] == {"commit": code.commit, "dirty": code.dirty}
    assert captured["code_fingerprint"] == code.fingerprint
    assert main(["env", "--git", str(tmp_path)]) == 0  # another checkout: not a git one
    assert json.loads(capsys.readouterr().out)["git"] == {"commit": None, "dirty": None}
