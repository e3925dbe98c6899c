"""The results database: DuckDB schema, store, queries, Pareto frontiers, export and merge.

One DuckDB file holds everything sparsebench measures::

    store = results.Store("sparsebench-out/results.duckdb")   # creates or opens
    run_id = store.begin_run(spec_name, spec_text, machine, software, git_commit, git_dirty)
    store.add_rows(run_id, measurements=[...], checkpoints=[...])  # one transaction
    store.end_run(run_id, "finished")
    store.pareto()                       # frontier points; frontier_only=False: all + flag
    store.export("out/", "parquet");  results.merge([a, b], "all.duckdb")

- Schema: tables machines, software, runs, checkpoints, measurements (columns in
  ``results/schema.py``), a ``sparsebench_meta`` marker and a ``schema_version`` history;
  migrations are applied in one transaction on open. Foreign files and files from a newer
  sparsebench raise ValueError.
- Keys: ``measurement_key`` / ``checkpoint_key`` hash the configuration (never the outcome),
  so re-running a job adds nothing; a stored failed measurement gives way to an 'ok' one.
  Every writer keys measurements with ``measurement_key`` (``results/keys.py``).
- Frontier: ``results/pareto.py`` is its one definition and SQL (CLI, report, ``db query``).
- Uncertainty (``results.stats``): Wilson intervals of top-1 / top-5, per-image correctness
  bits and the exact McNemar test between checkpoints on the same test split, Student-t
  intervals of seed means, and intervals of latency ratios.
- Concurrency: no connection outlives a call; a file another process writes is waited for
  (``timeout``, default 30 s) and then ``StoreBusy`` (a RuntimeError) says who holds it.
  Each write commits before returning, so a killed writer loses only its open transaction.
"""

from results.connection import StoreBusy
from results.keys import checkpoint_key, machine_id, measurement_key, software_id
from results.merge import merge
from results.schema import SCHEMA_VERSION
from results.store import Store, default_path

__all__ = [
    "SCHEMA_VERSION",
    "Store",
    "StoreBusy",
    "checkpoint_key",
    "default_path",
    "machine_id",
    "measurement_key",
    "merge",
    "software_id",
]
