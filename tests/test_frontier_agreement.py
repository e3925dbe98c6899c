"""One frontier: Store.pareto, the summary `sparsebench bench` prints, the report's points
and `db query` over ``pareto_points`` agree on a real database with ties and several seeds."""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pandas as pd
import pytest
from frontier_points import of_frame, printed

import patterns
import results
from harness.summary import print_pareto
from reports import data
from results import samples

# (pattern, params, backend, top-1 per seed, median latency per seed)
CONFIGS = [
    ("dense", {}, "torch", (92.0, 90.0), (0.010, 0.010)),  # as accurate as filter, slower
    ("nm", {"n": 2, "m": 4}, "c", (89.0, 91.0), (0.006, 0.006)),  # tied with block
    ("block", {"n": 4, "sparsity": 0.5}, "c", (90.0, 90.0), (0.006, 0.006)),
    # seed 0 alone would beat every point; over both seeds it is slower-or-equal and worse
    ("unstructured", {"sparsity": 0.75}, "c", (95.0, 80.0), (0.005, 0.007)),
    ("cs", {"k": 2}, "c", (85.0, 85.0), (0.004, 0.004)),
    ("filter", {"sparsity": 0.5}, "c", (91.0, 91.0), (0.008, 0.008)),
]
FRONTIER = {"cs", "nm", "block", "filter"}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("frontier") / "r.duckdb"
    store = results.Store(path)
    run_id = store.begin_run("ties", "", samples.machine(), samples.software(), None, None)
    checkpoints, measurements = [], []
    for name, params, backend, accuracies, medians in CONFIGS:
        canonical = patterns.make(name, **params).params
        for seed, (top1, median) in enumerate(zip(accuracies, medians, strict=True)):
            ck = samples.checkpoint(pattern=name, pattern_params=canonical, seed=seed,
                                    top1=top1, top5=99.0)
            checkpoints.append(ck)
            measurements.append(samples.measurement(
                pattern=name, pattern_params=canonical, backend=backend, median_s=median,
                min_s=median, p90_s=median, kernel=f"{name}-avx512",
                checkpoint_key=ck["checkpoint_key"]))
    store.add_rows(run_id, measurements=measurements, checkpoints=checkpoints)
    return path




def test_every_reader_shows_the_same_frontier(db):
    store = results.Store(db, create=False)
    frontier = store.pareto()
    assert set(frontier["pattern"]) == FRONTIER  # ties kept, seeds averaged
    assert frontier.set_index("pattern")["seeds"].eq(2).all()
    expected = of_frame(frontier)
    assert len(expected) == len(FRONTIER)

    report = data.load(store).points
    assert of_frame(report) == expected
    assert report.set_index("pattern")["on_frontier"].to_dict() == {
        name: name in FRONTIER for name, *_ in CONFIGS}

    out = io.StringIO()
    with redirect_stdout(out):
        print_pareto(db)
    assert printed(out.getvalue()) == expected

    done = subprocess.run(
        [sys.executable, "-m", "harness", "db", "query", "--db", str(db), "--format", "json",
         "SELECT * FROM pareto_points WHERE on_frontier"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert of_frame(pd.read_json(io.StringIO(done.stdout), dtype=False)) == expected


def test_a_point_averages_its_seeds(db):
    points = results.Store(db, create=False).pareto(frontier_only=False).set_index("pattern")
    assert points.loc["unstructured", "top1"] == pytest.approx(87.5)
    assert points.loc["unstructured", "latency_s"] == pytest.approx(0.006)
    assert points.loc["nm", "top1_std"] == pytest.approx(2 ** 0.5)
