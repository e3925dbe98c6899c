"""``results.Store``: the one way the project writes and reads its DuckDB results file.

The store never keeps the file open between calls: each operation opens a short-lived
connection (read-only for queries) and closes it, so a report can read while a sweep
writes, and a locked file is waited for (bounded by ``timeout``) before ``StoreBusy``.
A run's rows are written in one transaction; rows are keyed by content hashes, so writing
the same configuration again adds nothing. ``query`` (every reader: ``db query``, reports)
runs in a sandbox that reaches no other file, and sees only rows no migration flagged as
wrong (``schema.VALID_ROWS``).
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from results import keys, pareto, rows
from results.connection import DEFAULT_TIMEOUT_S, connect, first_line, transaction
from results.export import export_tables
from results.schema import (
    PRIMARY_KEYS,
    SCHEMA_VERSION,
    check_supported,
    file_version,
    hide_invalid_rows,
    migrate,
    table_columns,
)
from results.upsert import insert_new
from sparsebench.provenance import package_version

T = TypeVar("T")
RUN_END_STATUSES = ("finished", "failed", "interrupted")
DEFAULT_DB_ENV = "SPARSEBENCH_DB"
DEFAULT_DB_PATH = Path("sparsebench-out") / "results.duckdb"  # where `sparsebench bench` writes


def default_path() -> Path:
    """The results file used without --db: $SPARSEBENCH_DB, else sparsebench-out/results.duckdb."""
    return Path(os.environ.get(DEFAULT_DB_ENV) or DEFAULT_DB_PATH)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Store:
    """A sparsebench results file (DuckDB). Creates it unless ``create=False``.

    ValueError: not a DuckDB/sparsebench file, a newer schema, a missing file with
    ``create=False``. StoreBusy (a RuntimeError): another process held it past ``timeout``.
    """

    def __init__(
        self, path: str | Path, *, create: bool = True, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._columns: dict[str, dict[str, str]] = {}
        if self.path.is_dir():
            raise ValueError(f"{self.path} is a directory; pass a results file path")
        if not self.path.exists() and not create:
            raise ValueError(
                f"no results database at {self.path}; run a sweep first or pass --db PATH"
            )
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.version = self._open_schema(create)

    # -- connections -------------------------------------------------------------------
    def _read(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        return connect(self.path, read_only=True, timeout=self.timeout)

    def _write(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        return connect(self.path, read_only=False, timeout=self.timeout)

    @contextmanager
    def _sandboxed(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for user SQL: no other file reachable, flagged rows hidden,
        and the frontier's points as the view ``pareto_points`` (``results.pareto``)."""
        with connect(self.path, read_only=True, timeout=self.timeout, sandbox=True) as con:
            hide_invalid_rows(con)
            pareto.create_view(con)
            con.execute("SET lock_configuration = true").fetchall()
            yield con

    def _open_schema(self, create: bool) -> int:
        if self.path.exists():
            self._check_existing(create)
        if self.path.exists():
            with self._read() as con:
                version = file_version(con, str(self.path))
                check_supported(version, str(self.path))
                if version == SCHEMA_VERSION:
                    self._columns = table_columns(con)
                    return version
        with self._write() as con:
            version = file_version(con, str(self.path))
            check_supported(version, str(self.path))
            if version == 0 and not create:
                raise ValueError(f"{self.path} holds no sparsebench results; run a sweep "
                                 "into it first or pass another --db")
            if version < SCHEMA_VERSION:
                migrate(con, version, package_version("sparsebench") or "unknown")
            self._columns = table_columns(con)
        return SCHEMA_VERSION

    def _check_existing(self, create: bool) -> None:
        """Refuse what is not a regular file; adopt an empty placeholder file (touch,
        mkstemp: DuckDB refuses 0-byte files) only when creating and only when it is ours
        alone (one link, our owner), so no device, FIFO or shared file is ever replaced."""
        info = self.path.lstat()
        if stat.S_ISLNK(info.st_mode):
            info = self.path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{self.path} is not a regular file; pass a results file path")
        if info.st_size:
            return
        if not create:
            raise ValueError(f"{self.path} is empty, not a results database; run a sweep "
                             "into it first or pass another --db")
        if self.path.is_symlink() or info.st_nlink != 1 or info.st_uid != os.getuid():
            raise ValueError(f"{self.path} is an empty file that is linked or not ours; "
                             "remove it or pass another --db")
        self.path.unlink()

    def columns(self, table: str) -> dict[str, str]:
        """Column name -> DuckDB type of ``table``, in table order (read when opened)."""
        self._check_table(table)
        return self._columns[table]

    @staticmethod
    def _check_table(table: str) -> None:
        if table not in PRIMARY_KEYS:
            raise ValueError(f"unknown table {table!r}; one of {', '.join(PRIMARY_KEYS)}")

    # -- writing -------------------------------------------------------------------------
    def _split_details(self, table: str, record: Mapping[str, Any], id_: str) -> dict:
        """A machines/software row: known columns as columns, the rest under ``details``."""
        columns = self.columns(table)
        row = {k: v for k, v in record.items() if k in columns and k != "details"}
        extras = {k: v for k, v in record.items() if k not in columns}
        row.update({PRIMARY_KEYS[table]: id_, "details": extras or None})
        return row

    def _insert(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        records: list[Mapping[str, Any]],
        defaults: Mapping[str, Any],
        keys_of: Callable[[Mapping[str, list[Any]], int], list[str]] | None,
    ) -> int:
        arrow = rows.to_arrow(
            table, records, self.columns(table), PRIMARY_KEYS[table], keys_of, defaults
        )
        view = f"incoming_{table}"  # lives until the short-lived connection closes
        con.register(view, arrow)
        return insert_new(con, table, view)

    def _transaction(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``work(con)`` in one write transaction; constraint errors become ValueError."""
        with self._write() as con:
            try:
                with transaction(con):
                    return work(con)
            except duckdb.ConstraintException as exc:
                raise ValueError(f"rows rejected by the schema: {first_line(exc)}") from exc

    def begin_run(
        self,
        spec_name: str,
        spec_text: str,
        machine: Mapping[str, Any],
        software: Mapping[str, Any],
        git_commit: str | None,
        git_dirty: bool | None,
        notes: Mapping[str, Any] | None = None,
    ) -> str:
        """Record a new run (status 'running') with its machine and software; its run_id."""
        machine_id, software_id = keys.machine_id(machine), keys.software_id(software)
        run_id = uuid.uuid4().hex
        run = {
            "run_id": run_id, "spec_name": spec_name, "spec_text": spec_text,
            "spec_hash": keys.text_hash(spec_text or ""), "started_at": _utc_now(),
            "status": "running", "git_commit": git_commit, "git_dirty": git_dirty,
            "machine_id": machine_id, "software_id": software_id, "notes": notes,
        }  # fmt: skip

        def work(con) -> None:
            self._insert_environment(con, machine, software)
            self._insert(con, "runs", [run], {}, None)

        self._transaction(work)
        return run_id

    def add_environment(
        self, machine: Mapping[str, Any], software: Mapping[str, Any]
    ) -> tuple[str, str]:
        """Record a machine and a software stack (a cluster node's, say) unless stored;
        their (machine_id, software_id), for the rows measured there."""
        return self._transaction(lambda con: self._insert_environment(con, machine, software))

    def _insert_environment(
        self, con: duckdb.DuckDBPyConnection, machine: Mapping[str, Any],
        software: Mapping[str, Any],
    ) -> tuple[str, str]:
        machine_id, software_id = keys.machine_id(machine), keys.software_id(software)
        for table, record, id_ in (
            ("machines", machine, machine_id),
            ("software", software, software_id),
        ):
            row = self._split_details(table, record, id_)
            self._insert(con, table, [row], {}, None)
        return machine_id, software_id

    def add_rows(
        self,
        run_id: str,
        measurements: rows.Rows | None = None,
        checkpoints: rows.Rows | None = None,
    ) -> dict[str, int]:
        """Write a run's rows in ONE transaction; rows whose key is stored are skipped.

        Rows are dicts (or a DataFrame) with the table's columns; run_id, machine_id,
        software_id (from the run), created_at and the key are filled in when absent.
        Returns the number of new rows per table.
        """
        measurement_records = rows.as_records(measurements)
        checkpoint_records = rows.as_records(checkpoints)
        now = _utc_now()

        def work(con) -> dict[str, int]:
            run = self._run(con, run_id)
            return {
                "checkpoints": self._insert(
                    con, "checkpoints", checkpoint_records,
                    {"run_id": run_id, "created_at": now}, keys.checkpoint_keys,
                ),
                "measurements": self._insert(
                    con, "measurements", measurement_records,
                    {"run_id": run_id, "machine_id": run["machine_id"],
                     "software_id": run["software_id"], "created_at": now},
                    keys.measurement_keys,
                ),
            }  # fmt: skip

        return self._transaction(work)

    def end_run(
        self, run_id: str, status: str, notes: Mapping[str, Any] | None = None
    ) -> None:
        """Close a run as 'finished', 'failed' or 'interrupted', and checkpoint the WAL.

        ``notes`` are merged into the run's notes (JSON merge patch: its keys win)."""
        if status not in RUN_END_STATUSES:
            raise ValueError(f"run status {status!r} unknown; one of {', '.join(RUN_END_STATUSES)}")
        with self._write() as con:
            self._run(con, run_id)
            con.execute(
                "UPDATE runs SET status = ?, ended_at = ?, notes = "
                "coalesce(json_merge_patch(coalesce(notes, '{}'), ?), notes) WHERE run_id = ?",
                [status, _utc_now(), keys.json_text("notes", notes), run_id],
            ).fetchall()
            con.execute("CHECKPOINT")

    def _run(self, con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
        """The run's machine_id and software_id; ValueError for an unknown run."""
        found = con.execute(
            "SELECT machine_id, software_id FROM runs WHERE run_id = ?", [run_id]
        ).fetchall()
        if not found:
            raise ValueError(f"no run {run_id!r} in {self.path}; call begin_run first")
        return {"machine_id": found[0][0], "software_id": found[0][1]}

    # -- reading -------------------------------------------------------------------------
    def has_key(self, table: str, key: str) -> bool:
        """True when ``table`` holds a row with this key (any status)."""
        self._check_table(table)
        sql = f"SELECT 1 FROM {table} WHERE {PRIMARY_KEYS[table]} = ? LIMIT 1"
        return not self.query(sql, [key]).empty

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run read-only SQL in a sandbox (see ``_sandboxed``); a DataFrame.

        ValueError (one line) for SQL DuckDB rejects or SQL that returns no rows at all.
        """
        with self._sandboxed() as con:
            try:
                result = con.execute(sql, params)
            except duckdb.Error as exc:
                raise ValueError(f"query failed: {first_line(exc)}") from exc
            if result is None or result.description is None:
                raise ValueError("the SQL holds no query that returns rows; pass a SELECT")
            return result.df()

    def _table(self, table: str, order: str) -> pd.DataFrame:
        return self.query(f"SELECT * FROM {table} ORDER BY {order}")

    def measurements(self) -> pd.DataFrame:
        return self._table("measurements", "created_at, measurement_key")

    def checkpoints(self) -> pd.DataFrame:
        return self._table("checkpoints", "created_at, checkpoint_key")

    def runs(self) -> pd.DataFrame:
        return self._table("runs", "started_at, run_id")

    def machines(self) -> pd.DataFrame:
        return self._table("machines", "machine_id")

    def software(self) -> pd.DataFrame:
        return self._table("software", "software_id")

    def pareto(self, metric: str = "top1", *, frontier_only: bool = True) -> pd.DataFrame:
        """The frontier's points by ``metric`` (``results.pareto``: the one definition the
        CLI summary, the report and ``db query``'s ``pareto_points`` view share).
        ``frontier_only=False`` returns every point with its ``on_frontier`` flag."""
        return self.query(pareto.pareto_sql(metric, frontier_only=frontier_only))

    def export(self, out_dir: str | Path, fmt: str = "parquet") -> list[Path]:
        """Write every data table to ``out_dir/<table>.<fmt>``; the paths written."""
        return export_tables(self, out_dir, fmt)
