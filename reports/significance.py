"""Paired significance on the report: each point against its dense parent, and each frontier
step against the previous (faster) frontier point.

A point holds one checkpoint per seed. Two points are compared seed by seed on the same test
images (``results.stats.paired``), and the discordant counts of the seeds both have are
summed before the exact McNemar test; with one seed (the default sweep) that is exactly the
McNemar test of the two checkpoints. Checkpoints without correctness bits, or evaluated on
different splits, give no verdict (``None``) rather than a wrong one.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from results.stats import BETTER, Evaluated, Paired, SplitMismatch, mcnemar_exact, paired

BITS_SQL = """
SELECT checkpoint_key, model, dataset, pattern, seed, weights_hash,
       CAST(recipe_params AS VARCHAR) AS recipe_params, test_split_hash, test_images,
       top1_correct
FROM checkpoints
"""


@dataclass(frozen=True)
class Bits:
    """Every checkpoint's evaluation, and which dense checkpoint each sparse one came from."""

    evaluated: dict[str, tuple[int | None, Evaluated]]  # key -> (seed, evaluation)
    parent: dict[str, str]  # sparse checkpoint key -> dense parent key

    def compare(self, keys_a: Iterable[str], keys_b: Iterable[str]) -> Paired | None:
        """B against A, pooled over the seeds both have; None without a comparable pair."""
        by_seed_a = {self.evaluated[k][0]: self.evaluated[k][1] for k in keys_a
                     if k in self.evaluated}
        only_a = only_b = n = 0
        for key in keys_b:
            seed, b = self.evaluated.get(key, (None, None))
            a = by_seed_a.get(seed)
            if a is None or b is None:
                continue
            try:
                test = paired(a, b)
            except SplitMismatch:
                return None
            only_a, only_b, n = only_a + test.only_a, only_b + test.only_b, n + test.n
        return Paired(only_a, only_b, n, mcnemar_exact(only_a, only_b)) if n else None

    def parents_of(self, keys: Iterable[str]) -> list[str]:
        return [self.parent[k] for k in keys if k in self.parent]


def _init_hash(recipe_params: str | None) -> str | None:
    try:
        params = json.loads(recipe_params) if recipe_params else {}
    except ValueError:
        return None
    return params.get("init_weights_hash") if isinstance(params, dict) else None


def load_bits(frame: pd.DataFrame) -> Bits:
    """``Bits`` from the rows of ``BITS_SQL``."""
    evaluated = {}
    for r in frame.itertuples():
        has = not pd.isna(r.test_split_hash) and r.top1_correct is not None
        evaluated[r.checkpoint_key] = (None if pd.isna(r.seed) else int(r.seed), Evaluated(
            r.checkpoint_key, r.test_split_hash if has else None,
            int(r.test_images) if has else None, bytes(r.top1_correct) if has else None))
    dense = frame[frame["pattern"] == "dense"]
    by_hash = dict(zip(dense["weights_hash"], dense["checkpoint_key"], strict=True))
    by_seed = dense.groupby(["model", "dataset", "seed"])["checkpoint_key"].agg(list)
    parent = {}
    for r in frame[frame["pattern"] != "dense"].itertuples():
        named = by_hash.get(_init_hash(r.recipe_params))
        same_seed = by_seed.get((r.model, r.dataset, r.seed), [])
        if named is None and len(same_seed) == 1:  # trained from scratch: the one dense model
            named = same_seed[0]
        if named is not None:
            parent[r.checkpoint_key] = named
    return Bits(evaluated, parent)


def _text(test: Paired | None) -> tuple[str | None, float | None]:
    return (None, None) if test is None else (test.verdict, test.p_value)


def vs_dense(points: pd.DataFrame, bits: Bits) -> pd.DataFrame:
    """Add ``vs_dense`` ('better' / 'worse' / 'indistinguishable' / None) and ``vs_dense_p``."""
    verdicts, p_values = [], []
    for keys, pattern in zip(points["checkpoint_keys"], points["pattern"], strict=True):
        test = None if pattern == "dense" else bits.compare(bits.parents_of(keys), keys)
        verdict, p = _text(test)
        verdicts.append(verdict)
        p_values.append(p)
    return points.assign(vs_dense=verdicts, vs_dense_p=p_values)


def frontier_gains(front: pd.DataFrame, bits: Bits) -> pd.DataFrame:
    """Add ``gain_p`` / ``gain_significant``: each frontier point's top-1 gain over the
    previous (faster) one, by the paired test; the fastest point has none."""
    p_values: list[float | None] = [None]
    significant: list[bool | None] = [None]
    keys = [list(k) for k in front["checkpoint_keys"]]
    for previous, current in itertools.pairwise(keys):
        test = bits.compare(previous, current)
        p_values.append(None if test is None else test.p_value)
        significant.append(None if test is None else test.verdict == BETTER)
    return front.assign(gain_p=p_values[: len(front)],
                        gain_significant=significant[: len(front)])
