"""Plotly figures as plain JSON-ready dicts, drawn in the page by the offline plotly.min.js.

Building dicts instead of ``plotly.graph_objects`` figures skips plotly's per-property
validation, which dominates build time when a site has dozens of plots. Every figure is
``{"data": [...], "layout": {...}}``; the page template calls ``Plotly.newPlot`` on it.
"""

from __future__ import annotations

import itertools
from typing import Any

import pandas as pd

from reports.fmt import acc, interval, is_missing, pct, seconds, significance_text, times

#: One colour per pattern, the same on every page.
PATTERN_COLOURS = {
    "dense": "#4b5563", "unstructured": "#2563eb", "nm": "#059669", "block": "#ea580c",
    "cs": "#9333ea", "filter": "#dc2626",
}
_SPARE_COLOURS = ("#0891b2", "#ca8a04", "#db2777", "#65a30d", "#7c3aed", "#0f766e")
#: Marker per backend, so a C and a torch point of the same pattern are told apart.
BACKEND_SYMBOLS = {"torch": "square", "c": "circle", "cuda": "diamond"}
#: Layer kinds in the order the speedup panels show them, with their display names.
LAYER_KINDS = {"1x1": "1×1", "3x3": "3×3", "kxk": "k×k", "strided": "strided"}

_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
_AXIS = {"gridcolor": "#e5e7eb", "zerolinecolor": "#d1d5db", "linecolor": "#9ca3af",
         "ticks": "outside", "tickcolor": "#9ca3af"}


def pattern_colour(pattern: str) -> str:
    """The colour of ``pattern``; unknown names get a stable spare colour."""
    if pattern in PATTERN_COLOURS:
        return PATTERN_COLOURS[pattern]
    return _SPARE_COLOURS[sum(map(ord, pattern)) % len(_SPARE_COLOURS)]


def _values(series: pd.Series) -> list[Any]:
    """A column as a JSON-safe list (NaN -> None)."""
    return [None if is_missing(v) else v for v in series.tolist()]


def _layout(**extra: Any) -> dict[str, Any]:
    layout = {
        "font": {"family": _FONT, "size": 13, "color": "#1f2937"},
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
        "margin": {"l": 64, "r": 24, "t": 36, "b": 56},
        "hoverlabel": {"font": {"family": _FONT, "size": 12}, "align": "left"},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0,
                   "font": {"size": 12}},
        "height": 440,
    }
    layout.update(extra)
    return layout


def point_hover(row: pd.Series) -> str:
    """The hover text of one model-scope point: its whole configuration."""
    lines = [
        f"<b>{row['pattern_label']}</b>",
        f"backend {row['backend']} · kernel {row['kernel']}" + (
            f" · {row['isa']}" if row["isa"] else ""),
        f"recipe {row['recipe'] or '–'} · epochs {'–' if is_missing(row['epochs']) else int(row['epochs'])}"  # noqa: E501
        f" · seeds {int(row['seeds'])}",
        f"density {pct(row['density'])}",
        f"top-1 {acc(row['top1'], row['top1_std'], row['seeds'])} {interval(row['top1_lo'], row['top1_hi'])}"  # noqa: E501
        f" · top-5 {acc(row['top5'], row['top5_std'], row['seeds'])}",
        f"vs dense: {significance_text(row['vs_dense'], row['vs_dense_p'])}",
        f"latency {seconds(row['latency_s'])} · speedup {times(row['speedup'])}"
        f" (FLOPs {times(row['flops_speedup'])})",
        f"{row['target']} · {int(row['threads'])} thr · batch {int(row['batch'])}",
    ]
    return "<br>".join(lines)


def accuracy_latency(points: pd.DataFrame) -> dict[str, Any]:
    """Top-1 against latency for one (target, data set, threads, batch): a trace per pattern,
    marker per backend, and the Pareto frontier drawn as a step line with its points named."""
    points = points.dropna(subset=["top1"]).sort_values("latency_s")
    hover = [point_hover(row) for _, row in points.iterrows()]
    points = points.assign(hover=hover, latency_ms=points["latency_s"] * 1e3,
                           latency_lo_ms=points["latency_lo_s"] * 1e3,
                           latency_hi_ms=points["latency_hi_s"] * 1e3)
    data: list[dict[str, Any]] = []
    for pattern, group in points.groupby("pattern", sort=True):
        data.append({
            "type": "scatter", "mode": "markers", "name": pattern,
            "x": _values(group["latency_ms"]), "y": _values(group["top1"]),
            "error_y": _error_bar(group["top1"], group["top1_lo"], group["top1_hi"],
                                  pattern_colour(pattern)),
            "error_x": _error_bar(group["latency_ms"], group["latency_lo_ms"],
                                  group["latency_hi_ms"], pattern_colour(pattern)),
            "marker": {"color": pattern_colour(pattern), "size": 10, "opacity": 0.85,
                       "symbol": [BACKEND_SYMBOLS.get(b, "x") for b in group["backend"]],
                       "line": {"color": "#ffffff", "width": 1}},
            "hovertext": group["hover"].tolist(), "hoverinfo": "text",
        })
    frontier = points[points["on_frontier"]]
    data.append({
        "type": "scatter", "mode": "lines+markers+text", "name": "Pareto frontier",
        "x": _values(frontier["latency_ms"]), "y": _values(frontier["top1"]),
        "line": {"color": "#111827", "width": 1.5, "dash": "dot", "shape": "hv"},
        "marker": {"size": 15, "color": "rgba(0,0,0,0)", "line": {"color": "#111827",
                                                                  "width": 2}},
        "text": frontier["pattern_label"].tolist(),
        "textposition": _label_sides(frontier["latency_ms"], points["latency_ms"]),
        "textfont": {"size": 11, "color": "#111827"}, "cliponaxis": False,
        "hovertext": frontier["hover"].tolist(), "hoverinfo": "text",
    })
    spread = points["latency_ms"].max() / max(points["latency_ms"].min(), 1e-12)
    return {"data": data, "layout": _layout(
        legend={"orientation": "v", "x": 1.02, "y": 1, "yanchor": "top"},
        margin={"l": 80, "r": 24, "t": 24, "b": 56},
        xaxis={**_AXIS, "title": {"text": "latency (ms, lower is better)"},
               "type": "log" if spread > 8 else "linear"},
        yaxis={**_AXIS, "title": {"text": "top-1 (%)", "standoff": 12}, "ticksuffix": " %",
               "range": _padded(points["top1_lo"].fillna(points["top1"]),
                                points["top1_hi"].fillna(points["top1"]))},
    )}


def _error_bar(value: pd.Series, lo: pd.Series, hi: pd.Series, colour: str) -> dict[str, Any]:
    """An asymmetric Plotly error bar from a 95 % interval (no bar where it is unknown)."""
    return {"type": "data", "symmetric": False, "visible": True, "thickness": 1, "width": 3,
            "color": colour, "array": _values((hi - value).clip(lower=0).fillna(0)),
            "arrayminus": _values((value - lo).clip(lower=0).fillna(0))}


def overview_frontier(points: pd.DataFrame) -> dict[str, Any]:
    """The index page's small accuracy-latency plot: ``accuracy_latency`` without legend or
    frontier labels, sized to sit beside the frontier table."""
    figure = accuracy_latency(points)
    for trace in figure["data"]:
        if trace["name"] == "Pareto frontier":
            trace["mode"] = "lines+markers"
    figure["layout"].update(height=300, showlegend=False,
                            margin={"l": 64, "r": 12, "t": 12, "b": 48})
    return figure


def _label_sides(x: pd.Series, all_x: pd.Series) -> list[str]:
    """Frontier labels point inwards: right of points in the left half, left of the others."""
    middle = (float(all_x.min()) + float(all_x.max())) / 2
    return ["top right" if v < middle else "top left" for v in x.tolist()]


def _padded(low: pd.Series, high: pd.Series) -> list[float]:
    """An axis range around the data with room above for the frontier labels."""
    lo, hi = float(low.min()), float(high.max())
    span = max(hi - lo, 0.5)
    return [lo - 0.08 * span, hi + 0.18 * span]


def layer_speedups(kinds: pd.DataFrame) -> dict[str, Any]:
    """Speedup over torch dense against actual density, one panel per layer kind, for one
    (target, threads, batch): geometric mean over the model's layers of that kind."""
    present = [k for k in LAYER_KINDS if k in set(kinds["layer_kind"])]
    present += sorted(set(kinds["layer_kind"]) - set(present))
    gap = 0.06
    width = (1 - gap * (len(present) - 1)) / max(len(present), 1)
    data: list[dict[str, Any]] = []
    layout = _layout(height=440, margin={"l": 64, "r": 24, "t": 44, "b": 120},
                     legend={"orientation": "h", "y": -0.25, "yanchor": "top", "x": 0})
    shown: set[str] = set()
    annotations, shapes = [], []
    for i, kind in enumerate(present):
        axis = "" if i == 0 else str(i + 1)
        left = i * (width + gap)
        layout[f"xaxis{axis}"] = {**_AXIS, "domain": [left, left + width], "range": [0, 1.05],
                                  "tickformat": ".0%", "title": {"text": "actual density"},
                                  "anchor": f"y{axis}"}
        layout[f"yaxis{axis}"] = {**_AXIS, "anchor": f"x{axis}", "type": "log",
                                  "title": {"text": "speedup over torch dense" if i == 0
                                            else ""}}
        annotations.append({"text": f"<b>{LAYER_KINDS.get(kind, kind)}</b>", "showarrow": False,
                            "xref": "paper", "yref": "paper", "x": left + width / 2, "y": 1.08,
                            "font": {"size": 13}})
        shapes.append({"type": "line", "xref": f"x{axis}", "yref": f"y{axis}", "x0": 0,
                       "x1": 1.05, "y0": 1, "y1": 1,
                       "line": {"color": "#9ca3af", "width": 1, "dash": "dash"}})
        of_kind = kinds[kinds["layer_kind"] == kind]
        for (pattern, kernel), group in of_kind.groupby(["pattern", "kernel"], sort=True):
            group = group.sort_values("density")
            name = f"{pattern} · {kernel}"
            data.append({
                "type": "scatter", "mode": "lines+markers", "name": name,
                "legendgroup": name, "showlegend": name not in shown,
                "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                "x": _values(group["density"]), "y": _values(group["speedup"]),
                "line": {"color": pattern_colour(pattern), "width": 2},
                "marker": {"color": pattern_colour(pattern), "size": 8,
                           "symbol": BACKEND_SYMBOLS.get(group["backend"].iloc[0], "x")},
                "hovertext": [
                    f"<b>{r.pattern_label}</b><br>{r.backend} · {r.kernel}<br>"
                    f"{LAYER_KINDS.get(kind, kind)} layers: {r.layers}<br>"
                    f"density {pct(r.density)}<br>speedup {times(r.speedup)} (geo-mean; "
                    f"{times(r.speedup_min)}–{times(r.speedup_max)})"
                    for r in group.itertuples()
                ],
                "hoverinfo": "text",
            })
            shown.add(name)
    layout["annotations"] = annotations
    layout["shapes"] = shapes
    return {"data": data, "layout": layout}


def target_comparison(points: pd.DataFrame) -> dict[str, Any]:
    """Speedup over each target's own torch dense, one bar per target, for every pattern
    configuration of one model at one (data set, threads, batch)."""
    points = points.dropna(subset=["speedup"]).sort_values(["pattern", "density"])
    order = list(dict.fromkeys(
        f"{p} · {b}" for p, b in zip(points["pattern_label"], points["backend"], strict=True)))
    data = []
    colours = itertools.cycle(("#2563eb", "#ea580c", "#059669", "#9333ea", "#dc2626"))
    for target, group in points.groupby("target", sort=True):
        data.append({
            "type": "bar", "name": target,
            "x": [f"{p} · {b}" for p, b in zip(group["pattern_label"], group["backend"],
                                                strict=True)],
            "y": _values(group["speedup"]), "marker": {"color": next(colours)},
            "hovertext": [f"{target}<br>{r.pattern_label} · {r.kernel}<br>"
                          f"latency {seconds(r.latency_s)}<br>speedup {times(r.speedup)}"
                          for r in group.itertuples()],
            "hoverinfo": "text",
        })
    return {"data": data, "layout": _layout(
        barmode="group", height=420, margin={"l": 64, "r": 24, "t": 24, "b": 150},
        xaxis={**_AXIS, "categoryorder": "array", "categoryarray": order, "tickangle": -35},
        yaxis={**_AXIS, "title": {"text": "speedup over torch dense"}, "ticksuffix": "×"},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
    )}

