"""The results database schema: versioned DDL, the migrations list and the file marker.

Every change to the schema is a new entry in ``MIGRATIONS`` (version -> DDL steps), never an
edit of an old one, so a file written by any earlier sparsebench can be brought up to date.
``ensure_schema`` applies the missing steps in one transaction when a store is opened.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import duckdb

from results.connection import transaction
from results.rekey import rekey_measurements

FORMAT_MARKER = "sparsebench-results"

_V1 = [
    """CREATE TABLE sparsebench_meta (
        key VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL)""",
    f"INSERT INTO sparsebench_meta VALUES ('format', '{FORMAT_MARKER}')",
    """CREATE TABLE schema_version (
        version INTEGER PRIMARY KEY,
        applied_at TIMESTAMP NOT NULL,
        sparsebench VARCHAR)""",
    """CREATE TABLE machines (
        machine_id VARCHAR PRIMARY KEY,
        hostname VARCHAR, cpu_model VARCHAR, cores INTEGER, isa_flags VARCHAR,
        memory_bytes BIGINT, os VARCHAR, kernel VARCHAR,
        gpu_name VARCHAR, gpu_driver VARCHAR, gpu_memory_bytes BIGINT,
        details JSON)""",
    """CREATE TABLE software (
        software_id VARCHAR PRIMARY KEY,
        python VARCHAR, torch VARCHAR, torchvision VARCHAR, numpy VARCHAR, duckdb VARCHAR,
        compiler VARCHAR, cuda VARCHAR, sparsebench VARCHAR,
        details JSON)""",
    """CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY,
        spec_name VARCHAR NOT NULL, spec_text VARCHAR, spec_hash VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL, ended_at TIMESTAMP,
        status VARCHAR NOT NULL
            CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
        git_commit VARCHAR, git_dirty BOOLEAN,
        machine_id VARCHAR NOT NULL, software_id VARCHAR NOT NULL,
        notes JSON)""",
    """CREATE TABLE checkpoints (
        checkpoint_key VARCHAR PRIMARY KEY,
        run_id VARCHAR, model VARCHAR NOT NULL, dataset VARCHAR NOT NULL,
        pattern VARCHAR NOT NULL, pattern_params JSON,
        requested_sparsity DOUBLE, nominal_density DOUBLE, actual_density DOUBLE,
        recipe VARCHAR, recipe_params JSON, seed BIGINT, epochs INTEGER,
        top1 DOUBLE, top5 DOUBLE, layer_table JSON,
        mask_hash VARCHAR, weights_hash VARCHAR, path VARCHAR, train_seconds DOUBLE,
        created_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE measurements (
        measurement_key VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL,
        scope VARCHAR NOT NULL CHECK (scope IN ('layer', 'model')),
        model VARCHAR, layer VARCHAR, layer_kind VARCHAR,
        backend VARCHAR NOT NULL CHECK (backend IN ('torch', 'c', 'cuda')),
        kernel VARCHAR, device VARCHAR NOT NULL, isa VARCHAR, compile_flags VARCHAR,
        kernel_source_hash VARCHAR,
        pattern VARCHAR NOT NULL, pattern_params JSON,
        requested_sparsity DOUBLE, nominal_density DOUBLE, actual_density DOUBLE,
        threads INTEGER, batch INTEGER,
        in_channels INTEGER, out_channels INTEGER, height INTEGER, width INTEGER,
        kernel_h INTEGER, kernel_w INTEGER, stride INTEGER, padding INTEGER,
        flops_dense DOUBLE, flops_nonzero DOUBLE,
        warmup INTEGER, repeats INTEGER,
        median_s DOUBLE, min_s DOUBLE, p90_s DOUBLE, stdev_s DOUBLE, max_rel_error DOUBLE,
        status VARCHAR NOT NULL CHECK (status IN ('ok', 'wrong', 'error')),
        message VARCHAR, checkpoint_key VARCHAR, mask_hash VARCHAR,
        machine_id VARCHAR NOT NULL, software_id VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        CHECK (status = 'ok' OR (median_s IS NULL AND min_s IS NULL
                                 AND p90_s IS NULL AND stdev_s IS NULL)))""",
]

# v2: C-kernel layer rows timed before the fix of issue 21 ran on one OpenMP thread
# whatever their ``threads`` says; they keep their figures but carry the reason they are
# wrong, and every reader (``db query``, reports) sees only rows whose reason is NULL.
C_LAYER_ONE_THREAD = ("timed on 1 thread, not the recorded count "
                      "(C-kernel layer timing before schema v2)")
_V2 = [
    "ALTER TABLE measurements ADD COLUMN invalid_reason VARCHAR",
    f"""UPDATE measurements SET invalid_reason = '{C_LAYER_ONE_THREAD}'
        WHERE scope = 'layer' AND backend = 'c' AND threads <> 1 AND status = 'ok'""",
]

# When each job ran (UTC, on the machine that ran it): a cluster's latency rows can be
# checked for overlap, and a slow job found. NULL for rows stored before this step.
_JOB_TIMES = [
    f"ALTER TABLE {table} ADD COLUMN {column} TIMESTAMP"
    for table in ("checkpoints", "measurements") for column in ("started_at", "ended_at")
]

# Accuracy with its uncertainty: 95 % Wilson intervals of top-1 / top-5 (percent, like top1),
# the number of test images, the hash of the evaluated split and one bit per test image
# (right at top-1, numpy.packbits order) for paired tests; the median latency's 95 % interval.
_ACCURACY_CI = [
    *(f"ALTER TABLE checkpoints ADD COLUMN {column}" for column in (
        "top1_lo DOUBLE", "top1_hi DOUBLE", "top5_lo DOUBLE", "top5_hi DOUBLE",
        "test_images INTEGER", "test_split_hash VARCHAR", "top1_correct BLOB")),
    "ALTER TABLE measurements ADD COLUMN median_lo_s DOUBLE",
    "ALTER TABLE measurements ADD COLUMN median_hi_s DOUBLE",
]

def _free_backend_names(con: duckdb.DuckDBPyConnection) -> None:
    """Recreate ``measurements`` without the CHECK on ``backend`` (DuckDB cannot drop a
    constraint): backends are a registry (torch_best, onnxruntime, openvino, ...), not a
    fixed list. The table's own DDL is reused, so columns added by earlier steps stay."""
    (sql,) = con.execute(
        "SELECT sql FROM duckdb_tables() WHERE table_name = 'measurements' "
        "AND schema_name = 'main' AND database_name = current_database()").fetchone()
    sql = re.sub(r"CHECK\(\(backend IN \([^)]*\)\)\),?\s*", "", sql)
    sql = sql.replace("CREATE TABLE measurements(", "CREATE TABLE measurements__v2(", 1)
    for step in (sql, "INSERT INTO measurements__v2 SELECT * FROM measurements",
                 "DROP TABLE measurements",
                 "ALTER TABLE measurements__v2 RENAME TO measurements"):
        con.execute(step).fetchall()


# Whole-model engines: any registered backend name, the 99th percentile latency (tail
# latency, as MLPerf single-stream and deepsparse.benchmark report it) and the arithmetic
# precision the engine ran in ('fp32'; OpenVINO's default on AVX512_BF16 CPUs is 'bf16').
_ENGINES = [
    _free_backend_names,
    "ALTER TABLE measurements ADD COLUMN p99_s DOUBLE",
    "ALTER TABLE measurements ADD COLUMN precision VARCHAR",
]

# What ran: the exact function (the C micro-kernel, the CUDA __global__ entry point, the
# torch op or engine) and the activation layout it ran on, as the kernel reported them
# (docs/RESULTS.md). NULL for rows stored before this step.
_WHAT_RAN = [
    "ALTER TABLE measurements ADD COLUMN kernel_function VARCHAR",
    "ALTER TABLE measurements ADD COLUMN kernel_layout VARCHAR",
]

# Measurements keyed by what they mean (``keys.measurement_key``): every stored row gets the
# key of its configuration, rows that now repeat one are flagged (``results/rekey.py``).
_REKEY = [rekey_measurements]

# version -> DDL steps (SQL, or a function of the connection for what SQL cannot say)
# that bring a file from version-1 to version. Append only.
MIGRATIONS: dict[int, list[str | Callable[[duckdb.DuckDBPyConnection], None]]] = {
    1: _V1, 2: _V2, 3: _JOB_TIMES, 4: _ACCURACY_CI, 5: _ENGINES, 6: _WHAT_RAN, 7: _REKEY}
SCHEMA_VERSION = max(MIGRATIONS)

# Data tables in dependency order (referenced tables first): export and merge walk this.
DATA_TABLES = ("machines", "software", "runs", "checkpoints", "measurements")
PRIMARY_KEYS = {
    "machines": "machine_id",
    "software": "software_id",
    "runs": "run_id",
    "checkpoints": "checkpoint_key",
    "measurements": "measurement_key",
}


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema = 'main'"
    ).fetchall()
    return {name for (name,) in rows}


def file_version(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """The schema version of the open file; 0 for an empty DuckDB file.

    ValueError (one line) when the file holds tables but is not a sparsebench results file.
    """
    tables = _tables(con)
    if not tables:
        return 0
    if "sparsebench_meta" not in tables or "schema_version" not in tables:
        raise ValueError(
            f"{path} is a DuckDB database but not a sparsebench results file "
            "(no sparsebench_meta table); pass a file written by sparsebench"
        )
    marker = con.execute("SELECT value FROM sparsebench_meta WHERE key = 'format'").fetchall()
    if marker != [(FORMAT_MARKER,)]:
        raise ValueError(f"{path} is not a sparsebench results file (format marker missing)")
    (version,) = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0]
    return int(version)


def check_supported(version: int, path: str) -> None:
    """ValueError when the file was written by a newer sparsebench than this one."""
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"{path} was created by a newer sparsebench (schema v{version}; this one knows "
            f"up to v{SCHEMA_VERSION}); upgrade sparsebench"
        )


def migrate(
    con: duckdb.DuckDBPyConnection,
    from_version: int,
    sparsebench: str,
    migrations: dict[int, list[Any]] = MIGRATIONS,
) -> None:
    """Apply every migration after ``from_version`` in one transaction (all or nothing)."""
    with transaction(con):
        for version in range(from_version + 1, max(migrations) + 1):
            for step in migrations[version]:
                if callable(step):
                    step(con)
                else:
                    con.execute(step).fetchall()
            con.execute(
                "INSERT INTO schema_version VALUES (?, timezone('UTC', now()), ?)",
                [version, sparsebench],
            ).fetchall()


def table_columns(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """Data table -> (column name -> DuckDB type), in table order, as the file has them."""
    found = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = 'main' "
        "ORDER BY table_name, ordinal_position"
    ).fetchall()
    columns: dict[str, dict[str, str]] = {table: {} for table in DATA_TABLES}
    for table, column, data_type in found:
        if table in columns:
            columns[table][column] = data_type
    return columns


# table -> condition a row must meet to be seen by readers (the rest is kept, flagged)
VALID_ROWS = {"measurements": "invalid_reason IS NULL"}


def hide_invalid_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Shadow each table of ``VALID_ROWS`` with a temporary view of its valid rows only.

    The full table stays readable as ``<database>.main.<table>`` (e.g. to count flagged rows).
    """
    (database,) = con.execute("SELECT current_database()").fetchone()
    quoted = '"' + database.replace('"', '""') + '"'
    columns = table_columns(con)
    for table, condition in VALID_ROWS.items():
        if "invalid_reason" in columns.get(table, {}):
            con.execute(f"CREATE TEMP VIEW {table} AS "
                        f"SELECT * FROM {quoted}.main.{table} WHERE {condition}").fetchall()
