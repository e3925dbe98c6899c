"""Benchmark: `build_site` over a results database with ~100 000 measurement rows (< 10 s).

Run: ``python benchmarks/bench_report_build.py``. Fills a temporary DuckDB file through
``results.Store`` with synthetic rows (``reports.sample``), then times one site build.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import results
from reports import sample
from reports.site import build_site

SPEC = sample.SampleSpec(
    models=("resnet20", "resnet56", "vgg_small", "mobilenet_v2_small"), layers=64,
    seeds=(0, 1, 2), threads=(1, 2, 4), batches=(1, 8),
    machines=(sample.Machine("bench-a", "AMD EPYC 9R45", 120.0),
              sample.Machine("bench-b", "Intel Xeon 8480", 90.0)),
)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "big.duckdb"
        start = time.perf_counter()
        sample.fill(results.Store(db), SPEC)
        filled = time.perf_counter() - start
        start = time.perf_counter()
        site = build_site(db, Path(tmp) / "site")
        built = time.perf_counter() - start
        print(f"rows: {site.measurement_rows:,} measurements, {site.checkpoint_rows} checkpoints "
              f"(filled in {filled:.1f} s)")
        print(f"report build: {built:.2f} s for {len(site.model_pages)} model pages "
              f"(target < 10 s; shared CPU, noisy)")


if __name__ == "__main__":
    main()
