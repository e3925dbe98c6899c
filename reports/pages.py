"""Page contexts: what each template receives, assembled from ``ReportData``.

The index lists what was run and each model's Pareto frontier per (data set, target,
threads, batch); a model page adds the plots, the per-layer and checkpoint tables, the
method checklist and, when a model was measured on several targets, side-by-side views.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from reports import checklist, figures, significance
from reports.data import ModelData, ReportData, for_model
from reports.missing import Missing

_SETTING = ["dataset", "threads", "batch"]


def model_href(model: str) -> str:
    """The file name of a model's page."""
    return "model-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", model) + ".html"


def setting_label(threads: int, batch: int, dataset: str | None = None) -> str:
    """'fashion-mnist · 2 threads · batch 1' (data set left out when unknown)."""
    parts = [dataset] if dataset else []
    parts += [f"{int(threads)} thread{'s' if int(threads) != 1 else ''}", f"batch {int(batch)}"]
    return " · ".join(parts)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts for the templates."""
    return frame.to_dict("records")


@dataclass
class FigureSlot:
    """One plot on a page: a DOM id and the figure dict."""

    id: str
    figure: dict[str, Any]
    title: str = ""


@dataclass
class Card:
    """A titled box holding a figure and/or a table, laid side by side with its siblings."""

    title: str
    figure: FigureSlot | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Section:
    """A setting (data set, threads, batch) with one card per target."""

    title: str
    cards: list[Card]
    comparison: FigureSlot | None = None
    comparison_rows: list[dict[str, Any]] = field(default_factory=list)
    comparison_targets: list[str] = field(default_factory=list)


class _Ids:
    """Unique DOM ids for the figures of one page."""

    def __init__(self) -> None:
        self._n = itertools.count(1)

    def slot(self, figure: dict[str, Any], title: str = "") -> FigureSlot:
        return FigureSlot(f"fig-{next(self._n)}", figure, title)


def frontier_rows(points: pd.DataFrame, bits: significance.Bits) -> list[dict[str, Any]]:
    """The frontier of one group, fastest first: at a budget of at least that latency, this
    configuration is the most accurate one measured; with each step's paired test."""
    front = points[points["on_frontier"]].sort_values("latency_s")
    return records(significance.frontier_gains(front, bits))


def index_context(data: ReportData, notices: list[Missing]) -> dict[str, Any]:
    """Everything the index page shows."""
    ids = _Ids()
    models = []
    for name in data.models:
        points = data.points[data.points["model"] == name]
        groups = []
        for (dataset, target, threads, batch), group in points.groupby(
                ["dataset", "target", "threads", "batch"], sort=True):
            rows = frontier_rows(group, data.bits)
            if rows:
                groups.append(Card(f"{target} — {setting_label(threads, batch, dataset)}",
                                   ids.slot(figures.overview_frontier(group)), rows))
        models.append({"name": name, "href": model_href(name), "groups": groups,
                       "points": len(points), "targets": sorted(set(points["target"]))})
    specs = data.runs.drop_duplicates("spec_hash")[["spec_name", "spec_hash", "spec_text"]]
    return {
        "title": "sparsebench report",
        "runs": records(data.runs), "machines": records(data.machines),
        "software": records(data.software), "specs": records(specs),
        "commits": sorted({str(c) for c in data.runs["git_commit"].dropna()}),
        "targets": records(data.targets), "models": models, "notices": notices,
        "measurement_rows": data.measurement_rows, "checkpoint_rows": data.checkpoint_rows,
    }


def _scatter_sections(model: ModelData, data: ReportData, ids: _Ids) -> list[Section]:
    """Accuracy–latency plots: a section per setting, a card per target side by side."""
    sections = []
    points = model.points[model.points["top1"].notna()]
    for (dataset, threads, batch), setting in points.groupby(_SETTING, sort=True):
        cards = [
            Card(target, ids.slot(figures.accuracy_latency(group)),
                 frontier_rows(group, data.bits))
            for target, group in setting.groupby("target", sort=True)
        ]
        section = Section(setting_label(threads, batch, dataset), cards)
        if len(cards) > 1:
            _add_comparison(section, setting, ids)
        sections.append(section)
    return sections


def _add_comparison(section: Section, setting: pd.DataFrame, ids: _Ids) -> None:
    """Side-by-side latency and speedup of every configuration on every target."""
    section.comparison = ids.slot(figures.target_comparison(setting))
    keys = ["pattern_label", "backend", "kernel", "recipe"]
    wide = setting.pivot_table(index=keys, columns="target", values=["latency_s", "speedup"],
                               aggfunc="first")
    section.comparison_targets = sorted(set(setting["target"]))
    rows = []
    for index, row in wide.iterrows():
        entry = dict(zip(keys, index, strict=True))
        entry["by_target"] = {t: {"latency_s": row.get(("latency_s", t)),
                                  "speedup": row.get(("speedup", t))}
                              for t in section.comparison_targets}
        rows.append(entry)
    section.comparison_rows = rows


def _speedup_sections(model: ModelData, ids: _Ids) -> list[Section]:
    """Speedup vs density per layer kind: a section per (threads, batch), a card per target."""
    sections = []
    for (threads, batch), setting in model.kinds.groupby(["threads", "batch"], sort=True):
        cards = [Card(target, ids.slot(figures.layer_speedups(group)))
                 for target, group in setting.groupby("target", sort=True)]
        sections.append(Section(setting_label(threads, batch), cards))
    return sections


def _environment(data: ReportData, model: ModelData) -> dict[str, list[dict[str, Any]]]:
    """Machines and software of the runs that measured this model."""
    machine_ids = set(model.points["machine_id"]) | set(model.kinds["machine_id"])
    runs = data.runs[data.runs["machine_id"].isin(machine_ids)]
    return {
        "machines": records(data.machines[data.machines["machine_id"].isin(machine_ids)]),
        "software": records(data.software[data.software["software_id"].isin(
            set(runs["software_id"]))]),
    }


def model_context(data: ReportData, name: str, notices: list[Missing]) -> dict[str, Any]:
    """Everything one model page shows."""
    model = for_model(data, name)
    ids = _Ids()
    layer_rows = model.layers
    return {
        "title": f"{name} — sparsebench report",
        "model": name,
        "targets": model.targets,
        "several_targets": len(model.targets) > 1,
        "checklist": checklist.evaluate(model),
        "scatter_sections": _scatter_sections(model, data, ids),
        "speedup_sections": _speedup_sections(model, ids),
        "layer_rows": records(layer_rows),
        "layer_total": int(layer_rows["model_rows"].max()) if len(layer_rows) else 0,
        "checkpoints": records(model.checkpoints),
        "notices": [n for n in notices if n.key in ("accuracy", "baseline")],
        "has_accuracy": bool(model.points["top1"].notna().any()),
        "has_layers": bool(len(model.kinds)),
        **_environment(data, model),
    }
