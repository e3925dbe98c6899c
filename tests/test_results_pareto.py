"""Pareto: accuracy-up / latency-down frontier per group, with speedup over torch dense."""

from __future__ import annotations

import pytest

import results
from results import samples

# (pattern, backend, top1, median_s): the expected frontier is dense/torch, nm/c, cs/c
POINTS = [
    ("dense", "torch", 0.92, 0.010),
    ("nm", "c", 0.91, 0.006),
    ("unstructured", "c", 0.90, 0.008),  # slower and worse than nm: dominated
    ("cs", "c", 0.85, 0.004),
    ("block", "c", 0.80, 0.005),  # slower and worse than cs: dominated
    ("filter", "c", 0.91, 0.007),  # as accurate as nm but slower: dominated
]


@pytest.fixture
def store(tmp_path):
    store = results.Store(tmp_path / "r.duckdb")
    run_id = store.begin_run("p", "", samples.machine(), samples.software(), None, None)
    checkpoints, measurements = [], []
    for threads in (1, 2):
        for pattern, backend, top1, median in POINTS:
            ck = samples.checkpoint(pattern=pattern, pattern_params={}, top1=top1, top5=1.0)
            checkpoints.append(ck)
            measurements.append(samples.measurement(
                pattern=pattern, pattern_params={}, backend=backend, threads=threads,
                median_s=median / threads, checkpoint_key=ck["checkpoint_key"],
            ))  # fmt: skip
    no_timing = {"median_s": None, "min_s": None, "p90_s": None, "stdev_s": None}
    measurements += [
        samples.measurement(  # a failed, faster point: never on the frontier
            pattern="cs", pattern_params={"k": 8}, status="wrong", **no_timing,
            checkpoint_key=checkpoints[3]["checkpoint_key"],
        ),
        samples.measurement(  # a layer-scope row: not a model point
            scope="layer", layer="conv1", median_s=1e-6, min_s=1e-6,
            checkpoint_key=checkpoints[1]["checkpoint_key"],
        ),
    ]  # fmt: skip
    store.add_rows(run_id, measurements=measurements, checkpoints=checkpoints)
    return store


def test_frontier_per_group(store):
    frontier = store.pareto()
    assert frontier.on_frontier.all()
    for threads in (1, 2):
        group = frontier[frontier.threads == threads]
        assert group.pattern.tolist() == ["cs", "nm", "dense"]  # by latency
        assert group.accuracy.is_monotonic_increasing


def test_all_points_carry_the_flag_and_speedup(store):
    points = store.pareto(frontier_only=False)
    assert len(points) == 2 * len(POINTS)
    one = points[points.threads == 1].set_index("pattern")
    assert one.on_frontier.to_dict() == {
        "cs": True, "block": False, "nm": True, "filter": False, "unstructured": False,
        "dense": True,
    }  # fmt: skip
    assert one.speedup["nm"] == pytest.approx(0.010 / 0.006)
    assert one.speedup["dense"] == pytest.approx(1.0)
    assert one.dense_s.unique().tolist() == [pytest.approx(0.010)]
    assert set(points.dataset) == {"fashion-mnist"}


def test_top5_metric_and_unknown_metric(store):
    top5 = store.pareto("top5")
    # every point has top5 = 1.0: only the fastest of each group is on the frontier
    assert top5.pattern.tolist() == ["cs", "cs"]
    with pytest.raises(ValueError, match="unknown Pareto metric 'loss'"):
        store.pareto("loss")


def test_missing_dense_baseline_gives_null_speedup(tmp_path):
    store = results.Store(tmp_path / "r.duckdb")
    run_id = store.begin_run("p", "", samples.machine(), samples.software(), None, None)
    ck = samples.checkpoint()
    store.add_rows(run_id, measurements=[samples.measurement(
        checkpoint_key=ck["checkpoint_key"])], checkpoints=[ck])  # fmt: skip
    point = store.pareto().iloc[0]
    assert point.on_frontier and point.speedup != point.speedup  # NaN: no baseline


def test_each_machine_has_its_own_frontier_and_baseline(store):
    run_id = store.begin_run("p", "", samples.machine(cores=64), samples.software(), None, None)
    ck_dense = samples.checkpoint(pattern="dense", pattern_params={}, top1=0.92)
    ck_nm = samples.checkpoint(pattern="nm", pattern_params={}, top1=0.91)
    store.add_rows(run_id, checkpoints=[ck_dense, ck_nm], measurements=[
        samples.measurement(pattern="dense", pattern_params={}, backend="torch",
                            median_s=0.002, checkpoint_key=ck_dense["checkpoint_key"]),
        samples.measurement(pattern="nm", pattern_params={}, median_s=0.004,
                            checkpoint_key=ck_nm["checkpoint_key"]),
    ])  # fmt: skip
    points = store.pareto(frontier_only=False)
    big = points[points.machine_id == results.machine_id(samples.machine(cores=64))]
    assert big.set_index("pattern").on_frontier.to_dict() == {"dense": True, "nm": False}
    assert big.set_index("pattern").speedup["nm"] == pytest.approx(0.5)
    assert len(points) == 2 * len(POINTS) + 2
