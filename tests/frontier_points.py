"""The Pareto frontier as each reader shows it, as comparable sets of points: the summary
``sparsebench bench`` prints, and any frame with the columns of ``results.pareto``."""

from __future__ import annotations

import json
import re

import pandas as pd

import patterns

_LINE = re.compile(r"^  (\S+)\s+(\S+)\s+[\d.]+\s+([\d.]+)\s+([\d.]+)ms\s+\S+x\s+\d+$")


def point(header: dict[str, str], backend: str, pattern: str, top1: float,
          latency_ms: float) -> tuple:
    """One point: its group (as printed), backend, pattern, top-1 and latency as printed."""
    return (*header.values(), backend, pattern, f"{top1:.2f}", f"{latency_ms:.3f}")


def printed(stdout: str) -> set[tuple]:
    """The points of ``harness.summary.print_pareto``'s output."""
    points, header = set(), None
    for line in stdout.splitlines():
        if line.startswith("machine_id="):
            header = dict(part.split("=", 1) for part in line.split())
        elif header and (found := _LINE.match(line)):
            backend, pattern, top1, latency = found.groups()
            points.add(point(header, backend, pattern, float(top1), float(latency)))
    return points


def of_frame(frame: pd.DataFrame) -> set[tuple]:
    """The frontier points of a frame of ``results.pareto`` rows (``on_frontier`` ones)."""
    points = set()
    for row in frame[frame["on_frontier"].astype(bool)].to_dict("records"):
        header = {"machine_id": row["machine_id"][:12], "device": row["device"],
                  "model": row["model"], "dataset": row["dataset"],
                  "threads": str(int(row["threads"])), "batch": str(int(row["batch"]))}
        pattern = patterns.make(row["pattern"], **json.loads(row["params"])).describe()
        points.add(point(header, row["backend"], pattern, row["top1"], row["latency_s"] * 1e3))
    return points
