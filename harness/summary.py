"""Short terminal summaries of a finished sweep: what ran, the overhead, the Pareto points."""

from __future__ import annotations

from pathlib import Path

from harness.runner import SweepSummary


def print_summary(summary: SweepSummary) -> None:
    counts = ", ".join(f"{n} {what}" for what, n in sorted(summary.counts.items())) or "nothing"
    print(f"run {summary.run_id}: {counts} in {summary.wall_s:.1f} s")
    if summary.latency_wall_s:
        print(f"latency phase {summary.latency_wall_s:.1f} s, {summary.timed_s:.1f} s inside "
              f"timed calls: {summary.overhead_fraction:.0%} outside the timed regions")
    for note in summary.notes:
        print(f"note: {note}")
    for failure in summary.failures:
        print(f"failed: {failure['job']}: {failure['reason']}")
    print(f"database: {summary.db_path.resolve()}")


def print_pareto(db_path: Path) -> None:
    """The frontier's points (``results.pareto``, as the report shows them) per machine,
    device, model, data set, threads and batch: pattern, top-1, latency, speedup."""
    import json

    import patterns
    import results
    from results.pareto import GROUP

    frontier = results.Store(db_path).pareto()
    if frontier.empty:
        print("no Pareto points yet: the database has no model latency with accuracy")
        return
    for key, points in frontier.groupby(list(GROUP), sort=True):
        header = dict(zip(GROUP, key, strict=True))
        header["machine_id"] = header["machine_id"][:12]
        print("\n" + " ".join(f"{g}={v}" for g, v in header.items()))
        print(f"  {'backend':<7} {'pattern':<30} {'density':>7} {'top-1':>6} "
              f"{'latency':>10} {'vs torch':>8} {'seeds':>5}")
        for _, p in points.sort_values("latency_s").iterrows():
            pattern = patterns.make(p["pattern"], **json.loads(p["params"])).describe()
            print(f"  {p['backend']:<7} {pattern:<30} {p['density']:>7.3f} "
                  f"{p['top1']:>6.2f} {p['latency_s'] * 1e3:>8.3f}ms {p['speedup']:>7.2f}x "
                  f"{p['seeds']:>5}")
