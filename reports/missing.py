"""What the database lacks for a full report, and the command that produces it.

An empty database, or one without accuracy rows, still gets a site: each registered
detector below returns a ``Missing`` notice (what is absent, why it matters, how to get it),
and the pages show those notices where the plots would have been.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reports.data import ReportData
from sparsebench.registry import Registry


@dataclass(frozen=True)
class Missing:
    key: str
    what: str
    how: str  # a shell command


DETECTORS: Registry[str, Callable[[ReportData, str], Missing | None]] = Registry("detector")


def detector(fn: Callable[[ReportData, str], Missing | None]) -> Callable:
    """Register a function that returns a notice when its part of the data is absent."""
    return DETECTORS.register(fn.__name__)(fn)


def find_missing(data: ReportData, db: str) -> list[Missing]:
    """Every notice that applies to ``data``; ``db`` is the path to put in the commands."""
    return [m for m in (fn(data, db) for fn in DETECTORS.values()) if m is not None]


@detector
def _no_runs(data: ReportData, db: str) -> Missing | None:
    if len(data.runs):
        return None
    return Missing("runs", "The database holds no runs: nothing has been trained or measured "
                   "yet.", f"sparsebench bench --preset quick --db {db}")


@detector
def _no_accuracy(data: ReportData, db: str) -> Missing | None:
    if not len(data.runs) or data.has_accuracy:
        return None
    return Missing("accuracy", "No checkpoint carries a top-1 accuracy, so there is no "
                   "accuracy–latency frontier. The sweep trains and evaluates checkpoints "
                   "when its spec lists recipes and epochs.",
                   f"sparsebench bench --preset quick --db {db}")


@detector
def _no_model_timings(data: ReportData, db: str) -> Missing | None:
    if not len(data.runs) or len(data.points):
        return None
    return Missing("model-latency", "No model-scope latency (a whole forward pass) has been "
                   "measured, so points have no latency.",
                   f"sparsebench bench --preset quick --db {db}")


@detector
def _no_layer_timings(data: ReportData, db: str) -> Missing | None:
    if not len(data.runs) or len(data.kinds):
        return None
    return Missing("layer-latency", "No layer-scope timing of a sparse kernel against torch's "
                   "dense convolution, so there is no speedup per layer type.",
                   f"sparsebench bench --preset quick --db {db}")


@detector
def _no_baseline(data: ReportData, db: str) -> Missing | None:
    if not len(data.points) or data.points["dense_s"].notna().any():
        return None
    return Missing("baseline", "No torch dense model timing (pattern 'dense', backend "
                   "'torch'), so no measured speedup can be computed.",
                   f"sparsebench bench --preset quick --db {db}")
