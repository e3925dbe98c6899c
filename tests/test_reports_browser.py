"""Render the report in headless Chromium from file:// and check the DOM and the console."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import results
from reports import sample
from reports.site import build_site

pytestmark = pytest.mark.browser

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def driver():
    if not (Path(CHROMIUM).exists() and shutil.which(CHROMEDRIVER)):
        pytest.skip("headless Chromium not installed (Debian packages chromium, chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--no-first-run", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    machines = (sample.Machine("bench-a", "AMD EPYC 9R45", 120.0),
                sample.Machine("bench-b", "Intel Xeon 8480", 90.0))
    sample.fill(results.Store(root / "r.duckdb"), sample.SampleSpec(machines=machines))
    return build_site(root / "r.duckdb", root / "site")


def _render(driver, page: Path, shot: str) -> None:
    driver.get(page.as_uri())
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(height + 40, 8000))
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / shot))
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_index_renders_frontiers(driver, site):
    _render(driver, site.index, "report-index.png")
    rows = driver.find_elements("css selector", "table.frontier tr.frontier-point")
    assert len(rows) >= 2
    assert "bench-b" in driver.find_element("tag name", "body").text


def test_model_page_plots_and_frontier(driver, site):
    _render(driver, site.model_pages["resnet20"], "report-model-resnet20.png")
    plots = driver.find_elements("css selector", ".js-plotly-plot")
    assert len(plots) >= 5  # 2 scatters + comparison + 2 layer-speedup figures
    traces = driver.execute_script(
        "return [...document.querySelectorAll('.js-plotly-plot')].map(p => p.data.length)")
    assert all(n >= 2 for n in traces)
    frontier = driver.execute_script(
        "const p = document.querySelector('.js-plotly-plot');"
        "return p.data.find(t => t.name === 'Pareto frontier').x.length")
    assert frontier >= 1
    assert len(driver.find_elements("css selector", ".js-plotly-plot g.trace.scatter")) > 0
    assert len(driver.find_elements("css selector", "tr.check")) == 7


def test_empty_database_page(driver, tmp_path):
    results.Store(tmp_path / "empty.duckdb")
    index = build_site(tmp_path / "empty.duckdb", tmp_path / "site").index
    _render(driver, index, "report-empty.png")
    assert "sparsebench bench --preset quick" in driver.find_element("tag name", "body").text


def _overflowing(driver) -> list[str]:
    """Tables wider than their box (a horizontal scrollbar), and the page's own overflow."""
    return driver.execute_script(
        "const wide = [...document.querySelectorAll('.scroll')]"
        "  .filter(e => e.scrollWidth > e.clientWidth + 1)"
        "  .map(e => e.firstElementChild.className + ' ' + e.scrollWidth + '>' + e.clientWidth);"
        "if (document.documentElement.scrollWidth > window.innerWidth) wide.push('page');"
        "return wide;")


def test_index_has_a_frontier_plot_beside_each_table_with_error_bars(driver, site):
    _render(driver, site.index, "report-index.png")
    cards = driver.find_elements("css selector", ".model-block .card")
    assert cards
    for card in cards:
        assert card.find_elements("css selector", ".pair .js-plotly-plot")
        assert card.find_elements("css selector", ".pair table.frontier")
    # both axes: top-1 interval (y) and the median latency's interval (x), drawn by plotly
    assert driver.find_elements("css selector", ".js-plotly-plot path.yerror")
    assert driver.find_elements("css selector", ".js-plotly-plot path.xerror")
    assert _overflowing(driver) == []


def test_scatter_error_bars_are_the_stored_intervals(driver, site):
    _render(driver, site.model_pages["resnet20"], "report-model-resnet20.png")
    bars = driver.execute_script(
        "const p = document.querySelector('.js-plotly-plot');"
        "return p.data.filter(t => t.error_y).map(t => ["
        "  t.error_y.array.length, t.error_x.array.length, t.y.length,"
        "  Math.min(...t.error_y.array), Math.min(...t.error_x.array)]);")
    assert bars
    for n_y, n_x, n, min_y, min_x in bars:
        assert n_y == n_x == n and min_y > 0 and min_x > 0
    assert driver.find_elements("css selector", ".js-plotly-plot path.yerror")
    assert driver.find_elements("css selector", ".js-plotly-plot path.xerror")
    verdicts = {e.get_attribute("data-vs-dense")
                for e in driver.find_elements("css selector", "tr.frontier-point")}
    assert verdicts & {"better", "worse", "indistinguishable"}
    assert _overflowing(driver) == []
