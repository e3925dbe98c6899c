"""The results database: DuckDB schema, store, queries, Pareto frontiers, export and merge."""

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
