"""The accuracy-latency Pareto frontier: one definition, one DuckDB query.

Every reader of the frontier (``Store.pareto``, the summary ``sparsebench bench`` prints,
the HTML report, and ``db query`` through the view ``pareto_points``) runs ``pareto_sql``,
so they show the same points:

- A *point* is one configuration measured at model scope: (machine, device, model, data
  set, threads, batch, backend, kernel, isa, pattern and parameters, recipe, epochs), over
  every seed. Its latency is the median of its 'ok' rows' medians; its accuracy the mean of
  its checkpoints' (each checkpoint once, one per seed); NULL without a checkpoint.
- Within a *group* (machine, device, model, data set, threads, batch) a point is *on the
  frontier* when it has an accuracy and no other point of the group dominates it: none is
  at least as fast and at least as accurate and strictly better in one of the two. Points
  tied on both stay on the frontier together (no arbitrary pick among equals).
- ``speedup`` = median of the group's dense torch medians / the point's latency;
  ``speedup_best`` the same over the fastest dense fp32 configuration of any backend.
"""

from __future__ import annotations

import duckdb

# metric name -> checkpoints column holding it (higher is better)
METRICS = {"top1": "top1", "top5": "top5"}
GROUP = ("machine_id", "device", "model", "dataset", "threads", "batch")
POINT = (*GROUP, "backend", "kernel", "isa", "pattern", "params", "recipe", "epochs")

_SQL = """
WITH joined AS (
    SELECT m.machine_id, m.device, m.model, coalesce(c.dataset, '') AS dataset, m.threads,
           m.batch, m.backend, coalesce(m.kernel, m.backend) AS kernel,
           coalesce(m.isa, '') AS isa, m.pattern,
           coalesce(CAST(m.pattern_params AS VARCHAR), '{{}}') AS params,
           coalesce(c.recipe, '') AS recipe, c.epochs, coalesce(m.precision, 'fp32') AS precision,
           coalesce(c.actual_density, m.actual_density) AS density, m.median_s,
           m.median_lo_s, m.median_hi_s, m.flops_dense, m.flops_nonzero, c.checkpoint_key,
           c.seed, c.top1, c.top5, c.top1_lo, c.top1_hi, c.top5_lo, c.top5_hi, c.test_images
    FROM measurements AS m LEFT JOIN checkpoints AS c ON c.checkpoint_key = m.checkpoint_key
    WHERE m.scope = 'model' AND m.status = 'ok' AND m.median_s IS NOT NULL
),
model_rows AS (
    SELECT *, row_number() OVER (PARTITION BY {point}, checkpoint_key) = 1
               AS first_of_checkpoint
    FROM joined
),
dense AS (
    SELECT machine_id, device, model, threads, batch, median(median_s) AS dense_s
    FROM model_rows WHERE pattern = 'dense' AND backend = 'torch'
    GROUP BY machine_id, device, model, threads, batch
),
best AS (  -- the fastest fp32 dense configuration, any backend or engine
    SELECT machine_id, device, model, threads, batch, min(latency_s) AS best_dense_s,
           arg_min(backend, latency_s) AS best_dense
    FROM (SELECT machine_id, device, model, threads, batch, backend, kernel,
                 median(median_s) AS latency_s
          FROM model_rows WHERE pattern = 'dense' AND precision = 'fp32'
          GROUP BY ALL)
    GROUP BY machine_id, device, model, threads, batch
),
points AS (
    SELECT {point}, avg(density) AS density, median(median_s) AS latency_s,
           {per_checkpoint},
           min(test_images) AS test_images,
           list(DISTINCT checkpoint_key) FILTER (WHERE checkpoint_key IS NOT NULL)
               AS checkpoint_keys,
           count(DISTINCT seed) AS seeds,
           median(median_lo_s) AS latency_lo_s, median(median_hi_s) AS latency_hi_s,
           avg(flops_dense) AS flops_dense, avg(flops_nonzero) AS flops_nonzero,
           count(*) AS rows
    FROM model_rows GROUP BY {point}
),
scored AS (SELECT *, {metric_column} AS accuracy, '{metric}' AS metric FROM points),
flagged AS (  -- dominated: a point at least as fast is more accurate (1), or one strictly
              -- faster is at least as accurate (2); peers in latency do not exclude a tie
    SELECT *, accuracy IS NOT NULL
        AND accuracy >= max(accuracy) OVER (
            PARTITION BY {group} ORDER BY latency_s
            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        AND accuracy > coalesce(max(accuracy) OVER (
            PARTITION BY {group} ORDER BY latency_s
            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE GROUP),
            '-infinity'::DOUBLE) AS on_frontier
    FROM scored
)
SELECT f.*, d.dense_s, d.dense_s / f.latency_s AS speedup,
       b.best_dense, b.best_dense_s / f.latency_s AS speedup_best,
       f.flops_dense / nullif(f.flops_nonzero, 0) AS flops_speedup
FROM flagged AS f
LEFT JOIN dense AS d USING (machine_id, device, model, threads, batch)
LEFT JOIN best AS b USING (machine_id, device, model, threads, batch)
{where}
ORDER BY f.model, f.machine_id, f.device, f.dataset, f.threads, f.batch, f.latency_s,
         f.backend, f.kernel, f.pattern, f.params, f.recipe
"""

# Accuracy columns: the mean (and spread) over a point's checkpoints, each counted once.
_PER_CHECKPOINT = ("top1", "top5", "top1_lo", "top1_hi", "top5_lo", "top5_hi")
_NAMES = {"top1_lo": "top1_wlo", "top1_hi": "top1_whi", "top5_lo": "top5_wlo",
          "top5_hi": "top5_whi"}  # the Wilson interval, averaged over seeds


def _per_checkpoint() -> str:
    parts = []
    for column in _PER_CHECKPOINT:
        parts.append(f"avg({column}) FILTER (WHERE first_of_checkpoint) AS "
                     f"{_NAMES.get(column, column)}")
        if column in METRICS:
            parts.append(f"stddev_samp({column}) FILTER (WHERE first_of_checkpoint) "
                         f"AS {column}_std")
    return ",\n           ".join(parts)


def pareto_sql(metric: str = "top1", *, frontier_only: bool = True) -> str:
    """The SQL of every point (``frontier_only=False``) or of the frontier's, ranked by
    ``metric`` (ValueError for an unknown metric); see the module docstring."""
    if metric not in METRICS:
        raise ValueError(f"unknown Pareto metric {metric!r}; one of {', '.join(METRICS)}")
    return _SQL.format(
        point=", ".join(POINT),
        per_checkpoint=_per_checkpoint(),
        metric_column=METRICS[metric],
        metric=metric,
        group=", ".join(GROUP),
        where="WHERE f.on_frontier" if frontier_only else "",
    )


VIEW = "pareto_points"


def create_view(con: duckdb.DuckDBPyConnection) -> None:
    """Every point by top-1 with its ``on_frontier`` flag, as the temporary view
    ``pareto_points`` (what ``sparsebench db query`` users select the frontier from)."""
    con.execute(f"CREATE TEMP VIEW {VIEW} AS {pareto_sql('top1', frontier_only=False)}"
                ).fetchall()
