"""The accuracy-latency Pareto frontier as one DuckDB query.

Points are model-scope 'ok' measurements joined to their checkpoint (accuracy). Within a
group (machine, model, dataset, device, threads, batch) a point is on the frontier when no
point is at least as fast and at least as accurate (ties: the first by key stays).
``speedup`` = median of the torch dense model-scope medians of the same (machine, model,
device, threads, batch) / this point's median (NULL when that baseline was not measured).
"""

from __future__ import annotations

# metric name -> checkpoints column holding it (higher is better)
METRICS = {"top1": "top1", "top5": "top5"}
GROUP = ("machine_id", "model", "dataset", "device", "threads", "batch")

_SQL = """
WITH ok AS (
    SELECT * FROM measurements
    WHERE scope = 'model' AND status = 'ok' AND median_s IS NOT NULL
),
dense AS (
    SELECT machine_id, model, device, threads, batch, median(median_s) AS dense_median_s
    FROM ok WHERE pattern = 'dense' AND backend = 'torch'
    GROUP BY machine_id, model, device, threads, batch
),
points AS (
    SELECT m.measurement_key, m.run_id, m.machine_id, mc.cpu_model, mc.gpu_name,
           m.model, c.dataset, m.device, m.threads, m.batch, m.backend, m.kernel, m.isa,
           m.pattern, m.pattern_params, m.requested_sparsity, m.nominal_density,
           coalesce(m.actual_density, c.actual_density) AS actual_density,
           m.median_s, m.min_s, m.p90_s, m.stdev_s,
           c.checkpoint_key, c.recipe, c.seed, c.epochs, c.top1, c.top5,
           c.{column} AS accuracy, '{metric}' AS metric,
           d.dense_median_s, d.dense_median_s / m.median_s AS speedup
    FROM ok m
    JOIN checkpoints c ON c.checkpoint_key = m.checkpoint_key
    LEFT JOIN machines mc ON mc.machine_id = m.machine_id
    LEFT JOIN dense d ON d.machine_id = m.machine_id AND d.model = m.model
        AND d.device = m.device AND d.threads IS NOT DISTINCT FROM m.threads
        AND d.batch IS NOT DISTINCT FROM m.batch
    WHERE c.{column} IS NOT NULL
),
ranked AS (
    SELECT *, max(accuracy) OVER (
        PARTITION BY {group}
        ORDER BY median_s, accuracy DESC, measurement_key
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS best_faster
    FROM points
)
SELECT * EXCLUDE (best_faster), coalesce(accuracy > best_faster, true) AS on_frontier
FROM ranked
{where}
ORDER BY {group}, median_s, measurement_key
"""


def pareto_sql(metric: str = "top1", *, frontier_only: bool = True) -> str:
    """The SQL of the Pareto query for ``metric`` (ValueError for an unknown metric)."""
    if metric not in METRICS:
        raise ValueError(f"unknown Pareto metric {metric!r}; one of {', '.join(METRICS)}")
    return _SQL.format(
        column=METRICS[metric],
        metric=metric,
        group=", ".join(GROUP),
        where="WHERE on_frontier" if frontier_only else "",
    )
