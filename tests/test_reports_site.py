"""The report site from real DuckDB files filled through results.Store (no browser)."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

import results
from reports import checklist, data, sample
from reports.site import build_site
from results import stats

TWO_MACHINES = (sample.Machine("bench-a", "AMD EPYC 9R45", 120.0),
                sample.Machine("bench-b", "Intel Xeon 8480", 90.0))


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    path = tmp_path_factory.mktemp("db") / "results.duckdb"
    sample.fill(results.Store(path), sample.SampleSpec(machines=TWO_MACHINES, wrong_rows=2))
    return path


def test_frontier_is_pareto_optimal(filled):
    points = data.load(results.Store(filled)).points.dropna(subset=["top1"])
    for _, group in points.groupby(["machine_id", "device", "dataset", "threads", "batch"]):
        front = group[group["on_frontier"]]
        assert len(front) >= 1
        for _, p in front.iterrows():
            dominating = group[(group["latency_s"] <= p["latency_s"]) & (group["top1"] > p["top1"])]
            assert dominating.empty
        for _, p in group[~group["on_frontier"]].iterrows():
            assert ((front["latency_s"] <= p["latency_s"]) & (front["top1"] >= p["top1"])).any()


def test_speedup_is_against_torch_dense(filled):
    points = data.load(results.Store(filled)).points
    dense = points[(points["pattern"] == "dense") & (points["backend"] == "torch")]
    assert len(dense) == 2 and (dense["speedup"].round(9) == 1.0).all()


def test_checklist_reflects_the_data(filled):
    model = data.for_model(data.load(results.Store(filled)), "resnet20")
    status = {c.title: c for c in checklist.evaluate(model)}
    assert status["Mean ± std over seeds"].status == checklist.MET
    assert status["Top-1 and top-5 reported"].status == checklist.MET
    assert status["Same dense starting model"].status == checklist.MET
    correctness = status["Correctness checked for every timing"]
    assert correctness.status == checklist.NOT_MET and "4 wrong results" in correctness.detail


def test_site_pages_and_offline_assets(filled, tmp_path):
    site = build_site(filled, tmp_path / "site")
    index = site.index.read_text()
    page = site.model_pages["resnet20"].read_text()
    assert (tmp_path / "site" / "static" / "plotly.min.js").stat().st_size > 1_000_000
    for html in (index, page):
        assert 'src="static/plotly.min.js"' in html and "https://cdn" not in html
    assert "bench-a · cpu" in index and "bench-b · cpu" in index
    assert "Devices side by side" in page and page.count("Plotly.newPlot") >= 4


def test_database_without_accuracy(tmp_path):
    path = tmp_path / "r.duckdb"
    sample.fill(results.Store(path), sample.SampleSpec(with_accuracy=False))
    site = build_site(path, tmp_path / "site")
    assert 'data-missing="accuracy"' in site.index.read_text()
    assert "No model-scope timing of a checkpoint with a top-1" in \
        site.model_pages["resnet20"].read_text()


def test_empty_database(tmp_path):
    path = tmp_path / "empty.duckdb"
    results.Store(path)
    site = build_site(path, tmp_path / "site")
    html = site.index.read_text()
    assert 'data-missing="runs"' in html and "sparsebench bench --preset quick" in html
    assert site.model_pages == {}


def test_cli_missing_db_is_bad_input(tmp_path):
    proc = subprocess.run(["sparsebench", "report", "--db", str(tmp_path / "none.duckdb"),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "none.duckdb" in proc.stderr
    assert not (tmp_path / "none.duckdb").exists()


def _bits(store: results.Store) -> dict:
    rows = store.query("SELECT checkpoint_key, seed, test_split_hash, test_images, "
                       "top1_correct FROM checkpoints")
    return {r.checkpoint_key: (r.seed, stats.Evaluated(r.checkpoint_key, r.test_split_hash,
                                                       int(r.test_images), bytes(r.top1_correct)))
            for r in rows.itertuples()}


def test_points_are_marked_against_their_dense_parent_by_pooled_mcnemar(filled):
    store = results.Store(filled)
    points = data.load(store).points
    bits = _bits(store)
    dense_keys = {bits[k][0]: k for k in points[points["pattern"] == "dense"]
                  ["checkpoint_keys"].iloc[0]}
    sparse = points[points["pattern"] != "dense"]
    assert set(sparse["vs_dense"]) <= {stats.BETTER, stats.WORSE, stats.SAME}
    assert stats.WORSE in set(sparse["vs_dense"])  # filter at 50 % costs 2.5 points
    for _, p in sparse.iterrows():
        only_a = only_b = 0
        for key in p["checkpoint_keys"]:
            seed, child = bits[key]
            test = stats.paired(bits[dense_keys[seed]][1], child)
            only_a, only_b = only_a + test.only_a, only_b + test.only_b
        assert p["vs_dense_p"] == pytest.approx(stats.mcnemar_exact(only_a, only_b))
        assert p["top1_lo"] < p["top1"] < p["top1_hi"]
    assert points[points["pattern"] == "dense"]["vs_dense"].isna().all()


def test_frontier_rows_say_when_a_gain_is_not_significant(filled):
    from reports.pages import frontier_rows

    report = data.load(results.Store(filled))
    found = []
    for _, group in report.points.groupby(["machine_id", "device", "dataset", "threads",
                                           "batch"]):
        rows = frontier_rows(group, report.bits)
        assert pd.isna(rows[0]["gain_p"]) and rows[0]["gain_significant"] is None
        found += [r["gain_significant"] for r in rows[1:]]
    assert found and set(found) <= {True, False}
    assert False in found  # the sample's frontier steps are a few tenths of a point


def test_one_seed_checklist_counts_missing_seeds(tmp_path):
    path = tmp_path / "one-seed.duckdb"
    sample.fill(results.Store(path), sample.SampleSpec(seeds=(0,)))
    model = data.for_model(data.load(results.Store(path)), "resnet20")
    seeds = {c.title: c for c in checklist.evaluate(model)}["Mean ± std over seeds"]
    assert seeds.status == checklist.NOT_MET
    assert "0 of 10 configurations" in seeds.detail and "10 missing a second seed" in seeds.detail
