"""sparsebench.provenance: the code and software every run and checkpoint records -- the
project's own source tree, never the folder a command was started in."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from importlib import metadata

import results
from harness.cli import main
from sparsebench import provenance


def _git(cwd, *args) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _repo(path):
    """A git repository at ``path`` with one commit; its commit."""
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q")
    (path / "a.txt").write_text("one")
    _git(path, "add", "a.txt")
    _git(path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one")
    return _git(path, "rev-parse", "HEAD")


def test_software_versions_here():
    software = provenance.software_versions()
    assert software["python"] == platform.python_version()
    for package in ("torch", "numpy", "duckdb"):
        assert software[package] == metadata.version(package)
    if shutil.which("gcc"):
        assert software["compiler"].startswith("gcc ")
    json.dumps(software)
    assert results.software_id(software) == results.software_id(provenance.software_versions())


def test_git_state(tmp_path):
    assert provenance.git_state(tmp_path) == (None, None)
    commit = _repo(tmp_path)
    assert provenance.git_state(tmp_path) == (commit, False)
    (tmp_path / "untracked.txt").write_text("x")
    assert provenance.git_state(tmp_path) == (commit, False)
    (tmp_path / "a.txt").write_text("two")
    assert provenance.git_state(tmp_path) == (commit, True)


def test_code_state_is_the_checkout_the_code_lives_in(tmp_path):
    """A source tree that is its own checkout gives its commit; one inside someone else's
    repository (site-packages of a venv kept in a project) gives none, not theirs."""
    for package in provenance.PACKAGES:
        shutil.copytree(provenance.PROJECT_ROOT / package, tmp_path / "own" / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    commit = _repo(tmp_path / "own")
    state = provenance.code_state(tmp_path / "own")
    assert (state.commit, state.dirty) == (commit, False)
    assert state.fingerprint == provenance.code_fingerprint(provenance.PROJECT_ROOT)
    outer = _repo(tmp_path / "outer")
    inner = tmp_path / "outer" / "venv" / "site-packages"
    shutil.copytree(tmp_path / "own" / "harness", inner / "harness")
    assert provenance.git_state(inner)[0] == outer  # git alone would answer the outer repo
    assert (provenance.code_state(inner).commit, provenance.code_state(inner).dirty) == (
        None, None)


def test_code_fingerprint_changes_with_any_source_file(tmp_path):
    for package in provenance.PACKAGES:
        shutil.copytree(provenance.PROJECT_ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    ours = provenance.code_fingerprint(provenance.PROJECT_ROOT)
    assert provenance.code_fingerprint(tmp_path) == ours
    (tmp_path / "patterns" / "__pycache__").mkdir(exist_ok=True)
    (tmp_path / "patterns" / "__pycache__" / "x.py").write_text("# a cache, not code")
    assert provenance.code_fingerprint(tmp_path) == ours
    with (tmp_path / "harness" / "plan.py").open("a") as f:
        f.write("\n# changed\n")
    assert provenance.code_fingerprint(tmp_path) != ours


def test_kernels_from_another_checkout_records_the_project_code(tmp_path, monkeypatch):
    """`sparsebench kernels --db` started inside another git repository stores the commit
    of the code that measured, not of the folder the user stands in."""
    elsewhere = _repo(tmp_path / "elsewhere")
    monkeypatch.chdir(tmp_path / "elsewhere")
    db = tmp_path / "r.duckdb"
    code = main(["kernels", "--models", "resnet20", "--layers", "1", "--patterns", "nm",
                 "--sparsities", "0.5", "--threads", "1", "--budget", "0.01", "--db", str(db)])
    assert code == 0
    runs = results.Store(db).query("SELECT git_commit, git_dirty, notes FROM runs")
    ours = provenance.code_state()
    assert runs.git_commit[0] != elsewhere
    assert (runs.git_commit[0], runs.git_dirty[0]) == (ours.commit, ours.dirty)
    if ours.commit is not None:  # running from a checkout: its HEAD, as git itself says
        assert ours.commit == _git(provenance.PROJECT_ROOT, "rev-parse", "HEAD")
    assert json.loads(runs.notes[0])["code_fingerprint"] == ours.fingerprint
