"""Executors without Ray: the local executor's rows (start and end times, machine), the
executor choice on the command line and in the spec, per-phase progress, schema v2."""

from __future__ import annotations

import time

import duckdb
import pytest
from specs import sweep_toml

import results
from harness.cli import main
from harness.errors import BadInput
from harness.plan import TrainJob
from harness.progress import Progress
from harness.spec import TrainSpec, parse_spec
from results import schema

SHAPES_ONLY = sweep_toml(
    "shapes", [{"name": "nm", "sparsities": [0.5]}], models=[],
    timing={"target_rel_ci": 0.03},
    latency={"shape_models": ["resnet20"], "shape_sparsities": [0.5]})


def test_local_rows_record_when_each_job_ran_on_the_runs_machine(tmp_path):
    from harness.runner import run_sweep

    db = tmp_path / "r.duckdb"
    before = results.Store(db).query("SELECT timezone('UTC', now())::TIMESTAMP AS t").t[0]
    summary = run_sweep(parse_spec(SHAPES_ONLY), SHAPES_ONLY, db_path=db,
                        out_dir=tmp_path / "out", progress=False)
    store = results.Store(db)
    m = store.measurements().sort_values("started_at")
    assert len(m) == summary.counts["timed"] == 18 + 2 * 18  # torch dense; c dense and 2:4
    assert (m["started_at"] >= before).all() and (m["ended_at"] >= m["started_at"]).all()
    assert (m["started_at"].iloc[1:].values >= m["ended_at"].iloc[:-1].values).all()
    run = store.runs().iloc[0]
    assert set(m["machine_id"]) == {run["machine_id"]}
    assert run["status"] == "finished"
    assert '"executor": {"name": "local"}' in run["notes"]


def test_a_database_of_schema_v1_migrates_with_empty_job_times(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    schema.migrate(con, 0, "0.1.0", {1: schema.MIGRATIONS[1]})
    con.execute("INSERT INTO checkpoints (checkpoint_key, model, dataset, pattern, created_at) "
                "VALUES ('k', 'resnet20', 'fashion-mnist', 'dense', now())")
    con.close()
    store = results.Store(path)
    assert store.version == schema.SCHEMA_VERSION >= 2
    for table in ("checkpoints", "measurements"):
        assert {"started_at", "ended_at"} <= set(store.columns(table))
    old = store.checkpoints()
    assert old["checkpoint_key"].tolist() == ["k"] and old["started_at"].isna().all()


def test_end_run_merges_notes_and_keeps_the_old_ones(tmp_path):
    store = results.Store(tmp_path / "r.duckdb")
    run_id = store.begin_run("s", "x = 1", {"cpu_model": "c"}, {"python": "3"}, None, None,
                             notes={"notes": ["a"]})
    store.end_run(run_id, "failed", {"failed_jobs": [{"job": "j", "reason": "r"}]})
    notes = store.query("SELECT notes FROM runs").notes[0]
    assert '"notes":["a"]' in notes.replace(" ", "")
    assert '"failed_jobs":[{"job":"j","reason":"r"}]' in notes.replace(" ", "")


def test_add_environment_stores_a_nodes_machine_once(tmp_path):
    store = results.Store(tmp_path / "r.duckdb")
    ids = store.add_environment({"cpu_model": "x", "cores": 4}, {"python": "3.11"})
    assert store.add_environment({"cpu_model": "x", "cores": 4}, {"python": "3.11"}) == ids
    assert store.machines()["machine_id"].tolist() == [ids[0]]
    assert store.software()["software_id"].tolist() == [ids[1]]


@pytest.mark.parametrize(("table", "message"), [
    ('[executor]\nname = "slurm"', "unknown executor 'slurm'"),
    ("[executor]\nmax_retries = -1", "executor.max_retries must be >= 0"),
    ('[executor]\naddress = "h:1"', "needs executor 'ray'"),
])
def test_bad_executor_in_the_spec_is_refused(table, message):
    with pytest.raises(BadInput, match=message):
        parse_spec(f'name = "s"\n{table}\n')


def test_ray_address_with_the_local_executor_is_refused_before_work(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(SHAPES_ONLY)
    code = main(["bench", "--spec", str(spec), "--out", str(tmp_path / "out"),
                 "--executor", "local", "--ray-address", "10.0.0.1:6379", "--no-report"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["sparsebench: error: command line: a Ray address (10.0.0.1:6379) needs "
                   "executor 'ray'; add --executor ray or drop the address"]
    assert not (tmp_path / "out").exists()


def _train(recipe: str, parent: TrainJob | None = None) -> TrainJob:
    spec = TrainSpec(dense_epochs=4, epochs=2)
    return TrainJob("resnet20", "fashion-mnist", "dense" if parent is None else "nm", "{}",
                    0.0 if parent is None else 0.5, recipe, 0, spec, parent)


def test_progress_counts_epochs_per_phase_and_leaves_stored_jobs_out():
    dense = _train("dense")
    child, stored = _train("oneshot", dense), _train("srste")
    progress = Progress(enabled=True)
    progress.add([dense, child], stored=[stored])
    bar = progress.bars["train"]
    assert bar.total == 4 + 2 and "(1 stored)" in bar.desc
    created = time.perf_counter()
    time.sleep(0.05)
    progress.start(dense)
    assert bar.start_t > created  # the phase's rate counts from its first job
    progress.finish(dense)
    assert bar.n == 4
    assert progress.latency_started() is None
    progress.close()


def test_a_ray_address_where_nothing_listens_is_refused_at_once(tmp_path, capsys):
    from harness.executors.ray_local import free_block

    spec = tmp_path / "s.toml"
    spec.write_text(SHAPES_ONLY)
    address = f"127.0.0.1:{free_block(1)}"
    started = time.monotonic()
    code = main(["bench", "--spec", str(spec), "--out", str(tmp_path / "out"),
                 "--executor", "ray", "--ray-address", address, "--no-report"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and time.monotonic() - started < 30
    assert len(err) == 1 and err[0].startswith(f"sparsebench: error: no Ray cluster answers "
                                               f"at {address}")
    assert not (tmp_path / "out").exists()


def test_port_blocks_lie_below_the_ephemeral_range_and_never_overlap():
    from harness.executors.ray_local import _ephemeral_low, free_block

    taken: set[int] = set()
    for _ in range(20):
        first = free_block(46, taken)
        block = set(range(first, first + 46))
        assert not block & taken and max(block) < _ephemeral_low()
        taken |= block


def test_rays_port_clash_message_asks_for_another_start():
    from harness.executors.ray_local import _CLASH

    seen = ("ValueError: Ray component worker_ports is trying to use a port number 35773 "
            "that is used by other components.")
    assert _CLASH.search(seen)
    assert _CLASH.search("OSError: [Errno 98] Address already in use")
    assert not _CLASH.search("ValueError: --num-cpus must be an integer")


def test_the_command_line_executor_wins_over_the_specs():
    from harness.commands.bench import with_executor

    spec = parse_spec('name = "s"\n[executor]\nname = "ray"\naddress = "h:1"\n')
    assert with_executor(spec, None, None).executor == spec.executor
    assert with_executor(spec, None, "g:2").executor.address == "g:2"
    local = with_executor(spec, "local", None).executor
    assert (local.name, local.address) == ("local", None)
    with pytest.raises(BadInput, match="needs executor 'ray'"):
        with_executor(spec, "local", "g:2")
