"""asv: the suite passes 'asv check', one benchmark run records a result, import-asv loads it.

asv runs in this Python ("existing" environment) with a temporary config whose results,
HTML and machine file live in tmp_path, so the checkout's .asv/ and ~/.asv-machine.json
are left alone.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import results
from harness.asv_import import import_asv_results

REPO = Path(__file__).resolve().parents[1]
ONE_POINT = r"TimeSparse.time_conv\('resnet50:layer3.1.conv1', 'cs', 0.75, 1\)"


@pytest.fixture(scope="module")
def asv_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("asv")
    config = json.loads((REPO / "asv.conf.json").read_text())
    config.update(repo=str(REPO), benchmark_dir=str(REPO / "benchmarks"),
                  results_dir=str(tmp / "results"), html_dir=str(tmp / "html"),
                  env_dir=str(tmp / "env"))
    (tmp / "asv.conf.json").write_text(json.dumps(config))
    env = dict(os.environ, HOME=str(tmp))  # asv keeps its machine file in $HOME
    env.setdefault("SPARSEBENCH_CACHE", str(Path.home() / ".cache" / "sparsebench"))
    return tmp, env


def asv(asv_env, *args: str) -> subprocess.CompletedProcess:
    tmp, env = asv_env
    return subprocess.run([sys.executable, "-m", "asv", *args, "--config",
                           str(tmp / "asv.conf.json")], cwd=tmp, env=env, text=True,
                          capture_output=True, timeout=600)


def test_asv_check_passes(asv_env):
    done = asv(asv_env, "check", "-E", "existing")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No problems found" in done.stdout


def test_one_benchmark_run_records_a_result_and_imports(asv_env, tmp_path):
    tmp, _ = asv_env
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, text=True,
                            capture_output=True, check=True).stdout.strip()
    done = asv(asv_env, "machine", "--yes", "--machine", "testbox")
    assert done.returncode == 0, done.stdout + done.stderr
    done = asv(asv_env, "run", "--quick", "-E", "existing", "--set-commit-hash", commit,
               "-b", ONE_POINT)
    assert done.returncode == 0, done.stdout + done.stderr
    files = [p for p in (tmp / "results" / "testbox").glob("*.json") if p.name != "machine.json"]
    assert len(files) == 1
    recorded = json.loads(files[0].read_text())
    assert recorded["commit_hash"] == commit
    values = recorded["results"]["bench_kernels.TimeSparse.time_conv"][0]
    timed = [v for v in values if v is not None and math.isfinite(v)]
    assert len(timed) == 1 and timed[0] > 0

    store = results.Store(tmp_path / "r.duckdb")
    assert import_asv_results(tmp / "results", store) == 1
    assert import_asv_results(tmp / "results", store) == 0  # idempotent
    row = store.query("SELECT m.*, r.git_commit, r.spec_name FROM measurements m "
                      "JOIN runs r USING (run_id)").iloc[0]
    assert (row.git_commit, row.spec_name, row.backend, row.pattern, row.threads) == (
        commit, "asv", "c", "cs", 1)
    assert (row.layer, row.in_channels, row.out_channels) == ("layer3.1.conv1", 1024, 256)
    assert row.median_s == pytest.approx(timed[0])


def test_db_import_asv_cli_refuses_a_missing_results_dir(tmp_path: Path) -> None:
    from harness.cli import main

    assert main(["db", "import-asv", str(tmp_path / "none"), "--db",
                 str(tmp_path / "r.duckdb")]) == 2
