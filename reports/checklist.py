"""The method checklist on every model page, computed from the data.

Items follow the reporting standards of the pruning literature (Blalock et al., "What is
the state of neural network pruning?", 2020, and the SR-STE / 1×N / SUBP papers): several
operating points, mean ± std over seeds, top-1 and top-5, compression ratio, theoretical and
measured speedup, one dense starting model, and every timing checked against torch.
Each item is a registered function returning ``Check(title, status, detail)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from reports.data import PARENT_KEYS, ModelData
from reports.fmt import pct, times
from sparsebench.registry import Registry

MET, NOT_MET, NOT_SHOWN = "met", "not met", "not shown"



@dataclass(frozen=True)
class Check:
    title: str
    status: str  # MET | NOT_MET | NOT_SHOWN
    detail: str


CHECKS: Registry[str, Callable[[ModelData], tuple[str, str]]] = Registry("checklist item")


def check(title: str) -> Callable[[Callable[[ModelData], tuple[str, str]]], Callable]:
    """Register a checklist item; the function returns (status, detail)."""
    return CHECKS.register(title)


def evaluate(model: ModelData) -> list[Check]:
    """Every registered item, in registration order, for one model."""
    return [Check(title, *fn(model)) for title, fn in CHECKS.items()]


def _accuracy_rows(model: ModelData) -> pd.DataFrame:
    return model.checkpoints[model.checkpoints["n_top1"] > 0]


_NO_ACCURACY = (NOT_MET, "no checkpoint with a top-1 for this model")


@check("Several operating points")
def _operating_points(model: ModelData) -> tuple[str, str]:
    sparse = _accuracy_rows(model)
    sparse = sparse[sparse["pattern"] != "dense"]
    if sparse.empty:
        return NOT_MET, "no sparse checkpoint with a top-1 for this model"
    levels = sorted(set(sparse["density"].dropna().round(3)), reverse=True)
    per_pattern = sparse.groupby("pattern")["density"].nunique()
    single = sorted(per_pattern[per_pattern < 2].index)
    detail = f"{len(levels)} density levels ({', '.join(pct(d) for d in levels)})"
    if single:
        detail += f"; one level only for {', '.join(single)}"
    return (MET if len(levels) >= 2 and not single else NOT_MET), detail


@check("Mean ± std over seeds")
def _seeds(model: ModelData) -> tuple[str, str]:
    rows = _accuracy_rows(model)
    if rows.empty:
        return _NO_ACCURACY
    several = int((rows["seeds"] >= 2).sum())
    missing = len(rows) - several
    detail = (f"{several} of {len(rows)} configurations have ≥ 2 seeds "
              f"(seeds per configuration: {int(rows['seeds'].min())}–{int(rows['seeds'].max())})")
    if missing:
        detail += (f"; {missing} missing a second seed (shown with the Wilson interval of "
                   "their one checkpoint instead)")
    return (MET if several == len(rows) else NOT_MET), detail


@check("Top-1 and top-5 reported")
def _top1_top5(model: ModelData) -> tuple[str, str]:
    rows = model.checkpoints
    if rows.empty:
        return NOT_MET, "no checkpoints for this model"
    total = int(rows["checkpoints"].sum())
    n1, n5 = int(rows["n_top1"].sum()), int(rows["n_top5"].sum())
    detail = f"top-1 on {n1} of {total} checkpoints, top-5 on {n5} of {total}"
    return (MET if n1 == total and n5 == total else NOT_MET), detail


@check("Compression ratio")
def _compression(model: ModelData) -> tuple[str, str]:
    densities = pd.concat([model.checkpoints["density"], model.points["density"]]).dropna()
    densities = densities[(densities > 0) & (densities < 1)]
    if densities.empty:
        return NOT_MET, "no sparse configuration with an actual density"
    return MET, (f"{times(1 / densities.max())} – {times(1 / densities.min())} "
                 "(1 / actual density of the pruned layers)")


@check("Theoretical (FLOPs) and measured speedup")
def _speedups(model: ModelData) -> tuple[str, str]:
    points = model.points[model.points["pattern"] != "dense"]
    if points.empty:
        return NOT_MET, "no model-scope timing of a sparse configuration"
    flops, measured = points["flops_speedup"].dropna(), points["speedup"].dropna()
    missing = []
    if flops.empty:
        missing.append("FLOPs columns (flops_dense / flops_nonzero) are empty")
    if measured.empty:
        missing.append("no torch dense baseline at the same device / threads / batch")
    if missing:
        return NOT_MET, "; ".join(missing)
    return MET, (f"FLOPs {times(flops.min())}–{times(flops.max())}, "
                 f"measured {times(measured.min())}–{times(measured.max())}")


def _parent(recipe_params: str) -> str:
    """The dense parent a checkpoint names (``model.parents`` holds only those that do)."""
    params = json.loads(recipe_params)
    return next(str(params[k]) for k in PARENT_KEYS if params.get(k))


@check("Same dense starting model")
def _same_parent(model: ModelData) -> tuple[str, str]:
    rows = model.parents
    if rows.empty:
        return NOT_SHOWN, "no checkpoint starts from a dense parent (all train from scratch)"
    parents = rows.assign(parent=[_parent(p) for p in rows["recipe_params"]])
    per_seed = parents.groupby(["dataset", "seed"])["parent"].nunique()
    split = per_seed[per_seed > 1]
    detail = f"{len(parents)} checkpoints from a dense parent over {len(per_seed)} seeds"
    if not split.empty:
        return NOT_MET, f"{len(split)} seeds start from more than one dense model; {detail}"
    return MET, f"one dense parent per seed; {detail}"


@check("Correctness checked for every timing")
def _correctness(model: ModelData) -> tuple[str, str]:
    if model.correctness.empty:
        return NOT_MET, "no measurements for this model"
    row = model.correctness.iloc[0]
    ok, unchecked, wrong, errors = (int(row[c]) for c in ("ok_rows", "unchecked", "wrong",
                                                           "errors"))
    parts = [f"{ok} timings", f"{unchecked} without a max error", f"{wrong} wrong results"]
    if errors:
        parts.append(f"{errors} errors")
    if ok and unchecked == 0:
        parts.append(f"worst rel. error {float(row['worst_rel_error']):.1e}")
    return (MET if ok and unchecked == 0 and wrong == 0 else NOT_MET), ", ".join(parts)
