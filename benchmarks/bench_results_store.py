"""Results store speed: insert 100 000 measurement rows (target < 5 s) and query the Pareto
frontier over them (target < 1 s). A standalone script, not an asv benchmark or a test:

    python benchmarks/bench_results_store.py [--rows 100000] [--repeats 3]

Each repeat writes a synthetic sweep (results.samples.sweep) into a fresh file with one
``Store.add_rows`` call (keys computed by the store), repeats the call (the idempotent
no-op path), then times ``Store.pareto``. The CPU may be shared: the best wall time of
the repeats is compared with the targets, the median is printed beside it, and so is the
CPU time of this process (all its threads; less sensitive to other load). Exit 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import results
from results import samples

TARGETS_S = {"insert": 5.0, "pareto": 1.0}


def _timed(action: Callable[[], object]) -> tuple[tuple[float, float], object]:
    """((wall seconds, CPU seconds of this process), the action's outcome)."""
    start, cpu = time.perf_counter(), time.process_time()
    outcome = action()
    return (time.perf_counter() - start, time.process_time() - cpu), outcome


def one_repeat(
    folder: Path, rows: list[dict], checkpoints: list[dict]
) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds per phase for one fresh results file."""
    store = results.Store(folder / "bench.duckdb")
    run_id = store.begin_run("bench", "", samples.machine(), samples.software(), None, None)
    figures = {}
    figures["insert"], added = _timed(
        lambda: store.add_rows(run_id, measurements=rows, checkpoints=checkpoints)
    )
    figures["insert again (no-op)"], again = _timed(
        lambda: store.add_rows(run_id, measurements=rows, checkpoints=checkpoints)
    )
    figures["pareto"], points = _timed(lambda: store.pareto(frontier_only=False))
    figures["pareto (frontier only)"], _ = _timed(store.pareto)
    if added["measurements"] != len(rows) or again["measurements"] != 0 or points.empty:
        raise RuntimeError(f"unexpected outcome: added {added}, again {again}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows, checkpoints = samples.sweep(args.rows)
    runs = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(one_repeat(Path(tmp), rows, checkpoints))
    print(f"{args.rows} measurement rows ({args.rows // 10} model-scope Pareto points), "
          f"{len(checkpoints)} checkpoints, {args.repeats} repeats")  # fmt: skip
    missed = []
    for name in runs[0]:
        walls = [run[name][0] for run in runs]
        best, median = min(walls), statistics.median(walls)
        cpu = min(run[name][1] for run in runs)
        target = TARGETS_S.get(name)
        note = "" if target is None else f"  target < {target:g} s"
        print(f"{name:24s} wall best {best:6.3f} s  median {median:6.3f} s  "
              f"(CPU {cpu:6.3f} s){note}")  # fmt: skip
        if target is not None and best >= target:
            missed.append(name)
    if missed:
        print(f"missed: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
