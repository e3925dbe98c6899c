"""``sparsebench db compare A B``: two checkpoints side by side, the way ``asv compare`` prints.

A and B are checkpoint keys (or a unique prefix of one, at least 6 characters) or pattern
labels as the report writes them (``dense``, ``nm(n=2,m=4)``, ``unstructured(75%)``),
narrowed with ``--model`` / ``--seed`` / ``--recipe`` when a label names several. One line
each: A's and B's top-1 with its 95 % Wilson interval, the exact McNemar test of B against
A on the same test images, then B's latency over A's with its interval, one line per
(device, backend, threads, batch) both were timed at.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from harness.errors import BadInput

_CHECKPOINT_SQL = """
SELECT checkpoint_key, model, dataset, pattern,
       coalesce(CAST(pattern_params AS VARCHAR), '{}') AS params, coalesce(recipe, '') AS recipe,
       seed, top1, top1_lo, top1_hi, test_images, test_split_hash, top1_correct
FROM checkpoints ORDER BY model, pattern, recipe, seed, checkpoint_key
"""

_LATENCY_SQL = """
SELECT m.device, m.backend, m.threads, m.batch, median(m.median_s) AS median_s,
       median(m.median_lo_s) AS lo_s, median(m.median_hi_s) AS hi_s
FROM measurements AS m
WHERE m.scope = 'model' AND m.status = 'ok' AND m.checkpoint_key = ?
GROUP BY ALL ORDER BY ALL
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A", help="checkpoint key (or prefix) or pattern label")
    parser.add_argument("b", metavar="B", help="checkpoint key (or prefix) or pattern label")
    parser.add_argument("--model", default=None, help="only checkpoints of this model")
    parser.add_argument("--seed", type=int, default=None, help="only checkpoints of this seed")
    parser.add_argument("--recipe", default=None, help="only checkpoints of this recipe")
    parser.add_argument("--db", type=Path, default=None,
                        help="DuckDB results file (default $SPARSEBENCH_DB or "
                        "sparsebench-out/results.duckdb)")  # fmt: skip


def resolve(checkpoints: pd.DataFrame, name: str, args: argparse.Namespace) -> pd.Series:
    """The one checkpoint ``name`` (key, key prefix or pattern label) names; BadInput else."""
    from reports.fmt import pattern_label

    keys = checkpoints["checkpoint_key"].astype(str)
    by_key = checkpoints[keys == name]
    if by_key.empty and len(name) >= 6:
        by_key = checkpoints[keys.str.startswith(name)]
    if len(by_key) == 1:
        return by_key.iloc[0]
    labels = [pattern_label(p, q) for p, q in zip(checkpoints["pattern"],
                                                  checkpoints["params"], strict=True)]
    found = checkpoints[[label == name for label in labels]]
    for column in ("model", "seed", "recipe"):
        wanted = getattr(args, column)
        if wanted is not None:
            found = found[found[column] == wanted]
    if len(found) == 1:
        return found.iloc[0]
    if found.empty and by_key.empty:
        known = sorted(set(labels))
        raise BadInput(f"no checkpoint matches {name!r} (a checkpoint key or a pattern label "
                       f"such as {', '.join(known[:4]) or 'dense'}); see sparsebench db query "
                       "'SELECT checkpoint_key, model, pattern FROM checkpoints'")
    many = found if len(found) > 1 else by_key
    models = ", ".join(sorted(set(many["model"].astype(str))))
    seeds = ", ".join(str(s) for s in sorted(set(many["seed"].dropna().astype(int))))
    raise BadInput(f"{name!r} matches {len(many)} checkpoints (models {models}; seeds {seeds}); "
                   "narrow it with --model / --seed / --recipe or pass a checkpoint key")


def _interval(row: pd.Series) -> str:
    if pd.isna(row["top1_lo"]):
        return "(no interval: evaluated before intervals were recorded)"
    return f"[{row['top1_lo']:.2f}, {row['top1_hi']:.2f}] (n={int(row['test_images']):,})"


def _line(tag: str, row: pd.Series) -> str:
    from reports.fmt import pattern_label

    seed = "–" if pd.isna(row["seed"]) else int(row["seed"])
    top1 = "–" if pd.isna(row["top1"]) else f"{row['top1']:.2f} %"
    return (f"{tag}  {row['model']} {pattern_label(row['pattern'], row['params'])} "
            f"{row['recipe'] or '–'} seed {seed} [{str(row['checkpoint_key'])[:10]}]  "
            f"top-1 {top1} {_interval(row)}")


def _evaluated(tag: str, row: pd.Series):
    from results.stats import Evaluated

    bits = row["top1_correct"]
    return Evaluated(f"{tag} ({str(row['checkpoint_key'])[:10]})",
                     None if pd.isna(row["test_split_hash"]) else str(row["test_split_hash"]),
                     None if pd.isna(row["test_images"]) else int(row["test_images"]),
                     None if bits is None or (isinstance(bits, float) and math.isnan(bits))
                     else bytes(bits))


def _latency_lines(store, a: pd.Series, b: pd.Series) -> list[str]:
    from reports.fmt import seconds
    from results.stats import ratio_interval

    keys = ["device", "backend", "threads", "batch"]
    la = store.query(_LATENCY_SQL, [a["checkpoint_key"]])
    lb = store.query(_LATENCY_SQL, [b["checkpoint_key"]])
    both = la.merge(lb, on=keys, suffixes=("_a", "_b"))
    if both.empty:
        return ["latency B/A  – (no model-scope timing of both at one device, backend, "
                "threads and batch)"]
    lines = []
    for r in both.itertuples():
        setting = f"{r.device} · {r.backend} · {int(r.threads)} thr · batch {int(r.batch)}"
        values = (r.median_s_b, r.lo_s_b, r.hi_s_b), (r.median_s_a, r.lo_s_a, r.hi_s_a)
        if any(pd.isna(v) for pair in values for v in pair):
            ratio, interval = r.median_s_b / r.median_s_a, "(no interval stored)"
        else:
            ratio, lo, hi = ratio_interval(*values)
            interval = f"[{lo:.3f}, {hi:.3f}]"
        lines.append(f"latency B/A  {setting}: {ratio:.3f}× {interval}  "
                     f"({seconds(r.median_s_b)} vs {seconds(r.median_s_a)})")
    return lines


def run(args: argparse.Namespace) -> int:
    import results
    from results.stats import ALPHA, paired

    store = results.Store(args.db or results.default_path(), create=False)
    checkpoints = store.query(_CHECKPOINT_SQL)
    a, b = resolve(checkpoints, args.a, args), resolve(checkpoints, args.b, args)
    test = paired(_evaluated("A", a), _evaluated("B", b))
    print(_line("A", a))
    print(_line("B", b))
    print(f"McNemar (exact, {test.n:,} paired images): A only right {test.only_a}, B only "
          f"right {test.only_b}, p = {test.p_value:.3g} -> B {test.verdict} at "
          f"{ALPHA:.0%}".replace("indistinguishable", "indistinguishable from A"))
    for line in _latency_lines(store, a, b):
        print(line)
    return 0
