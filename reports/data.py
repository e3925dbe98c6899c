"""Everything the report shows, read from a ``results.Store`` with a few aggregating SQL queries.

DuckDB does the heavy lifting (medians, joins with the torch-dense baseline, geometric
means, the Pareto frontier as a window function), so a site over 100 000 measurement rows
moves only a few thousand aggregated rows into pandas. The reports never write to the store.

Vocabulary used across the package:
- a *target* is one (machine, device) pair: where a latency was measured;
- a *point* is one configuration measured at model scope, and *on the frontier* as
  ``results.pareto`` defines it (the one definition the CLI and ``db`` queries use too);
- a point's *accuracy interval* is the 95 % Wilson interval of its checkpoints on their test
  images, widened to the Student-t interval of the mean over seeds where it has several; its
  *latency interval* is the median over rows of each row's 95 % interval of the median.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import pandas as pd

from reports import significance
from reports.fmt import pattern_label
from results.pareto import pareto_sql
from results.stats import t_quantile

#: Rows per model in the per-layer table; the page says how many more the database holds.
LAYER_TABLE_CAP = 1500


class Queryable(Protocol):
    """The part of ``results.Store`` the reports use."""

    def query(self, sql: str, params: object = None) -> pd.DataFrame: ...


# One CTE normalises the measurements the pages read: 'ok' rows with a timing, tied to the
# machine that measured them (as the frontier's points are), NULL kernel / params / isa
# replaced so that they group together.
_OK = """
ok AS (
    SELECT m.scope, m.model, m.layer, m.layer_kind, m.backend,
           coalesce(m.kernel, m.backend) AS kernel, coalesce(m.isa, '') AS isa, m.device,
           m.pattern, coalesce(CAST(m.pattern_params AS VARCHAR), '{}') AS params,
           m.actual_density, m.threads, m.batch, m.in_channels, m.out_channels, m.height,
           m.width, m.kernel_h, m.kernel_w, m.stride, m.padding, m.flops_dense,
           m.flops_nonzero, m.median_s, m.median_lo_s, m.median_hi_s, m.checkpoint_key,
           m.machine_id, coalesce(m.precision, 'fp32') AS precision
    FROM measurements AS m
    WHERE m.status = 'ok' AND m.median_s IS NOT NULL
)"""

_TARGETS_SQL = """
SELECT DISTINCT m.device, m.machine_id, mc.hostname, mc.cpu_model, mc.gpu_name
FROM measurements AS m
LEFT JOIN machines AS mc ON mc.machine_id = m.machine_id
ORDER BY m.machine_id, m.device
"""

# Layer-scope rows: median per kernel configuration, then speedup over torch dense on the
# same layer of the same target, threads and batch.
_LAYER_CTE = f"""
WITH {_OK},
per_kernel AS (
    SELECT machine_id, device, model, layer, threads, batch, backend, kernel, pattern, params,
           any_value(layer_kind) AS layer_kind, any_value(in_channels) AS in_channels,
           any_value(out_channels) AS out_channels, any_value(kernel_h) AS kernel_h,
           any_value(kernel_w) AS kernel_w, any_value(stride) AS stride,
           any_value(padding) AS padding, any_value(height) AS height,
           any_value(width) AS width, avg(actual_density) AS density,
           median(median_s) AS latency_s
    FROM ok WHERE scope = 'layer'
    GROUP BY machine_id, device, model, layer, threads, batch, backend, kernel, pattern, params
),
dense AS (
    SELECT machine_id, device, model, layer, threads, batch, min(latency_s) AS dense_s
    FROM per_kernel WHERE pattern = 'dense' AND backend = 'torch'
    GROUP BY machine_id, device, model, layer, threads, batch
),
layer_speed AS (
    SELECT k.*, d.dense_s, d.dense_s / k.latency_s AS speedup
    FROM per_kernel AS k
    LEFT JOIN dense AS d USING (machine_id, device, model, layer, threads, batch)
)"""

_KINDS_SQL = f"""
{_LAYER_CTE}
SELECT machine_id, device, model, threads, batch, coalesce(layer_kind, '?') AS layer_kind,
       backend, kernel, pattern, params, avg(density) AS density,
       exp(avg(ln(speedup))) AS speedup, min(speedup) AS speedup_min,
       max(speedup) AS speedup_max, count(*) AS layers
FROM layer_speed
WHERE backend <> 'torch' AND speedup > 0
GROUP BY ALL
ORDER BY model, machine_id, device, threads, batch, layer_kind, pattern, density
"""

_LAYER_TABLE_SQL = f"""
{_LAYER_CTE},
table_rows AS (
    SELECT machine_id, device, model, layer, threads, batch, pattern, params,
           any_value(layer_kind) AS layer_kind, any_value(in_channels) AS in_channels,
           any_value(out_channels) AS out_channels, any_value(kernel_h) AS kernel_h,
           any_value(kernel_w) AS kernel_w, any_value(stride) AS stride,
           any_value(height) AS height, any_value(width) AS width,
           avg(density) AS density,
           min(latency_s) FILTER (WHERE backend = 'torch') AS torch_s,
           min(latency_s) FILTER (WHERE backend = 'c') AS c_s,
           min(latency_s) FILTER (WHERE backend = 'cuda') AS cuda_s,
           arg_min(kernel, latency_s) FILTER (WHERE backend <> 'torch') AS best_kernel,
           max(speedup) FILTER (WHERE backend <> 'torch') AS speedup,
           any_value(dense_s) AS dense_s
    FROM layer_speed
    GROUP BY machine_id, device, model, layer, threads, batch, pattern, params
)
SELECT *, count(*) OVER (PARTITION BY model) AS model_rows
FROM table_rows
QUALIFY row_number() OVER (
    PARTITION BY model
    ORDER BY machine_id, device, threads, batch, layer, pattern = 'dense' DESC, pattern,
             density DESC
) <= {LAYER_TABLE_CAP}
ORDER BY model, machine_id, device, threads, batch, layer, pattern = 'dense' DESC, pattern,
         density DESC
"""

_CHECKPOINTS_SQL = """
SELECT model, dataset, pattern, coalesce(CAST(pattern_params AS VARCHAR), '{}') AS params,
       coalesce(recipe, '') AS recipe, epochs, count(*) AS checkpoints,
       list(DISTINCT seed ORDER BY seed) AS seed_list, count(DISTINCT seed) AS seeds,
       avg(actual_density) AS density, avg(requested_sparsity) AS requested_sparsity,
       avg(top1) AS top1, stddev_samp(top1) AS top1_std, count(top1) AS n_top1,
       avg(top5) AS top5, stddev_samp(top5) AS top5_std, count(top5) AS n_top5,
       avg(top1_lo) AS top1_wlo, avg(top1_hi) AS top1_whi,
       avg(top5_lo) AS top5_wlo, avg(top5_hi) AS top5_whi, min(test_images) AS test_images,
       sum(train_seconds) AS train_seconds
FROM checkpoints
GROUP BY model, dataset, pattern, params, recipe, epochs
ORDER BY model, dataset, pattern = 'dense' DESC, pattern, density DESC, recipe
"""

#: recipe_params keys naming the dense checkpoint a checkpoint started from, most specific
#: first: what the recipes with ``dense_parent`` record (patterns/training/recipes/oneshot.py).
PARENT_KEYS = ("init_weights_hash", "init")

# The checkpoints that started from a dense parent: those whose recipe_params name one.
_PARENTS_SQL = f"""
SELECT model, dataset, pattern, recipe, seed, CAST(recipe_params AS VARCHAR) AS recipe_params
FROM checkpoints
WHERE coalesce({", ".join(f"recipe_params->>'{key}'" for key in PARENT_KEYS)}) IS NOT NULL
"""

_CORRECTNESS_SQL = """
SELECT model,
       count(*) FILTER (WHERE status = 'ok') AS ok_rows,
       count(*) FILTER (WHERE status = 'ok' AND max_rel_error IS NULL) AS unchecked,
       count(*) FILTER (WHERE status = 'wrong') AS wrong,
       count(*) FILTER (WHERE status = 'error') AS errors,
       max(max_rel_error) FILTER (WHERE status = 'ok') AS worst_rel_error
FROM measurements GROUP BY model ORDER BY model
"""

_RUNS_SQL = """
SELECT r.run_id, r.spec_name, r.spec_text, r.spec_hash, r.started_at, r.ended_at, r.status,
       r.git_commit, r.git_dirty, r.machine_id, r.software_id, mc.hostname, mc.cpu_model,
       mc.gpu_name,
       (SELECT count(*) FROM measurements AS m WHERE m.run_id = r.run_id) AS measurements,
       (SELECT count(*) FROM checkpoints AS c WHERE c.run_id = r.run_id) AS checkpoints
FROM runs AS r LEFT JOIN machines AS mc ON mc.machine_id = r.machine_id
ORDER BY r.started_at, r.run_id
"""


@dataclass(frozen=True)
class Frames:
    """The aggregated frames of the pages, for the whole store or for one model."""

    points: pd.DataFrame
    kinds: pd.DataFrame
    layers: pd.DataFrame
    checkpoints: pd.DataFrame
    parents: pd.DataFrame
    correctness: pd.DataFrame


@dataclass(frozen=True)
class ReportData(Frames):
    """The aggregated frames every page is built from (see the module docstring)."""

    runs: pd.DataFrame
    machines: pd.DataFrame
    software: pd.DataFrame
    targets: pd.DataFrame
    bits: significance.Bits
    measurement_rows: int
    checkpoint_rows: int

    @property
    def models(self) -> list[str]:
        """Every model with a measurement or a checkpoint, sorted."""
        names = set(self.points["model"]) | set(self.kinds["model"])
        names |= set(self.layers["model"]) | set(self.checkpoints["model"])
        names |= set(self.correctness["model"])
        return sorted(str(n) for n in names if isinstance(n, str) and n)

    @property
    def has_accuracy(self) -> bool:
        """True when at least one checkpoint carries a top-1."""
        return bool(self.checkpoints["n_top1"].sum()) if len(self.checkpoints) else False


def load(store: Queryable) -> ReportData:
    """Run the report's queries against ``store`` and label the results for display."""
    targets = _label_targets(store.query(_TARGETS_SQL))
    checkpoints = store.query(_CHECKPOINTS_SQL)
    points = store.query(pareto_sql("top1", frontier_only=False))
    scale = _accuracy_scale(checkpoints)
    for frame in (points, checkpoints):
        for col in ("top1", "top1_std", "top5", "top5_std", "top1_wlo", "top1_whi",
                    "top5_wlo", "top5_whi"):
            frame[col] = frame[col].astype(float) * scale
        for k in ("top1", "top5"):
            frame[f"{k}_lo"], frame[f"{k}_hi"] = accuracy_interval(frame, k)
    points["checkpoint_keys"] = [[] if k is None or k is pd.NA or isinstance(k, float)
                                 else list(k) for k in points["checkpoint_keys"]]
    bits = significance.load_bits(store.query(significance.BITS_SQL))
    points = significance.vs_dense(points, bits)
    counts = store.query(
        "SELECT (SELECT count(*) FROM measurements) AS m, (SELECT count(*) FROM checkpoints) AS c"
    )
    return ReportData(
        runs=store.query(_RUNS_SQL),
        machines=store.query("SELECT * FROM machines ORDER BY machine_id"),
        software=store.query("SELECT * FROM software ORDER BY software_id"),
        targets=targets,
        points=_with_labels(points, targets),
        kinds=_with_labels(store.query(_KINDS_SQL), targets),
        layers=_with_labels(store.query(_LAYER_TABLE_SQL), targets),
        checkpoints=_with_labels(checkpoints, None),
        parents=store.query(_PARENTS_SQL),
        correctness=store.query(_CORRECTNESS_SQL),
        bits=bits,
        measurement_rows=int(counts.at[0, "m"]),
        checkpoint_rows=int(counts.at[0, "c"]),
    )


def accuracy_interval(frame: pd.DataFrame, metric: str) -> tuple[pd.Series, pd.Series]:
    """The 95 % interval of a row's accuracy: the checkpoints' Wilson interval on their test
    images (averaged over seeds; NaN when unknown), widened, when the row has several seeds,
    to the Student-t interval of the mean over seeds. So seeds that happen to agree never
    hide the test-set sampling error, and seed-to-seed spread is never hidden by it."""
    seeds = frame["seeds"].fillna(0).astype(int)
    t = seeds.map(lambda n: t_quantile(n - 1) if n >= 2 else float("nan"))
    half = t * frame[f"{metric}_std"] / seeds.clip(lower=1) ** 0.5
    wilson_lo, wilson_hi = frame[f"{metric}_wlo"], frame[f"{metric}_whi"]
    t_lo, t_hi = frame[metric] - half, frame[metric] + half
    lo = pd.concat([wilson_lo, t_lo], axis=1).min(axis=1, skipna=True)
    hi = pd.concat([wilson_hi, t_hi], axis=1).max(axis=1, skipna=True)
    return lo, hi


def _accuracy_scale(checkpoints: pd.DataFrame) -> float:
    """100 when top-1/top-5 are stored as fractions (all ≤ 1), else 1: pages show percent."""
    values = pd.concat([checkpoints["top1"], checkpoints["top5"]]).dropna()
    return 100.0 if len(values) and float(values.max()) <= 1.0 else 1.0


def _label_targets(targets: pd.DataFrame) -> pd.DataFrame:
    """Give each (machine, device) a readable label: 'host · CPU model' or 'host · GPU name'."""
    targets = targets.drop_duplicates(["machine_id", "device"]).reset_index(drop=True)
    on_gpu = targets["device"].astype(str).str.startswith("cuda")
    hardware = targets["gpu_name"].where(on_gpu, targets["cpu_model"])
    hardware = hardware.fillna(targets["device"]).astype(str)
    host = targets["hostname"].fillna(targets["machine_id"].astype(str).str[:8]).astype(str)
    targets["target"] = host + " · " + targets["device"].astype(str) + " · " + hardware
    return targets


def _with_labels(frame: pd.DataFrame, targets: pd.DataFrame | None) -> pd.DataFrame:
    """Add 'pattern_label' and, for measured frames, the 'target' label of each row."""
    frame = frame.copy()
    frame["pattern_label"] = [
        pattern_label(p, q) for p, q in zip(frame["pattern"], frame["params"], strict=True)
    ]
    if targets is not None:
        frame = frame.merge(
            targets[["machine_id", "device", "target"]], on=["machine_id", "device"], how="left"
        )
    return frame


@dataclass(frozen=True)
class ModelData(Frames):
    """The rows of ``ReportData`` that belong to one model."""

    name: str

    @property
    def targets(self) -> list[str]:
        """Labels of the (machine, device) pairs this model was measured on."""
        labels = set(self.points["target"]) | set(self.kinds["target"])
        return sorted(str(t) for t in labels if isinstance(t, str))


def for_model(data: ReportData, model: str) -> ModelData:
    """Select one model's rows from every frame."""
    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["model"] == model].reset_index(drop=True)

    return ModelData(name=model, **{f.name: rows(getattr(data, f.name))
                                    for f in fields(Frames)})
