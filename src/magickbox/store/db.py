"""SQLite access: one connection per thread, WAL, explicit short write transactions.

A thread that is done with the store for now (`release()`, at the end of Store.connection())
leaves its connection for the next thread: opening one (connect, pragmas, reading the schema)
costs about 0.4 ms, and short-lived threads (an association, an HTTP request) would otherwise
pay that every time.

A write that fails because the data folder is full (or its disk fails) is rolled back and raised
as `StoreFull`, the one domain error every edge translates; no connection is left mid-transaction.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, cast

from magickbox.errors import NotFound, StoreFull
from magickbox.files import is_disk_full
from magickbox.store.schema import migrate

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

log = logging.getLogger(__name__)

IDLE_CONNECTIONS = 4  # kept open for the next threads, per process


def set_conditions(candidates: Iterable[tuple[str, object]]) -> tuple[list[str], list[object]]:
    """Of `(SQL condition with one ?, value)` pairs, the conditions whose value is set (not None,
    not empty) and their parameters: an empty field of a filter does not filter."""
    chosen = [(clause, value) for clause, value in candidates if value is not None and value != ""]
    return [clause for clause, _ in chosen], [value for _, value in chosen]


def where_sql(clauses: list[str]) -> str:
    """` WHERE c1 AND c2 ...`, or nothing when there is no condition."""
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""


class RowModel:
    """Base of a dataclass whose fields are, by name, the columns of one table's rows."""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Self:
        """The row as this class; extra columns are ignored, a missing one raises IndexError."""
        values: dict[str, Any] = {f.name: row[f.name] for f in fields(cast("type[DataclassInstance]", cls))}
        return cls(**values)


class Database:
    """The store's SQLite file. Safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._idle: list[sqlite3.Connection] = []
        self._idle_lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.transaction() as conn:  # BEGIN IMMEDIATE: one process migrates, the others wait
            migrate(conn)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (one left by another thread, or a new one)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._take_idle() or self._open()
            self._local.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        # Used by one thread at a time, but not always the one that opened it (see release()).
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash; only an OS crash may lose the last commit.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _drop_own(self) -> None:
        """Close this thread's connection only (the others are fine)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _take_idle(self) -> sqlite3.Connection | None:
        with self._idle_lock:
            return self._idle.pop() if self._idle else None

    def release(self) -> None:
        """This thread is done with the store for now: its connection is kept (up to
        IDLE_CONNECTIONS) for the next thread that needs one, else closed. One left inside a
        transaction is closed: its next user must start clean."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        if not conn.in_transaction:
            with self._idle_lock:
                if len(self._idle) < IDLE_CONNECTIONS:
                    self._idle.append(conn)
                    return
        conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once (BEGIN IMMEDIATE) so it never deadlocks on upgrade.

        Raises `StoreFull` when the disk refused the write; the transaction is rolled back either way.
        """
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                self._roll_back(conn)
                raise
        except (sqlite3.Error, OSError) as exc:
            # OSError: a transaction may also make a session folder (ENOSPC there is the same story).
            if is_disk_full(exc):
                raise StoreFull(f"the store could not write to {self.path.parent}: {exc}") from exc
            raise

    def _roll_back(self, conn: sqlite3.Connection) -> None:
        """Undo what is left of a failed transaction; a connection that cannot is dropped.

        SQLite rolls back on its own after some errors (a full disk at COMMIT), so there may be
        nothing to undo. A connection stuck inside a transaction would fail every later BEGIN.
        """
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.warning("could not roll back a failed transaction; reopening the connection")
            self._drop_own()

    def query(self, sql: str, params: tuple[object, ...] | dict[str, object] = ()) -> list[sqlite3.Row]:
        return self.connection().execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple[object, ...] | dict[str, object] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.connection().execute(sql, params).fetchone()
        return row

    def query_found(self, sql: str, params: tuple[object, ...], missing: str) -> sqlite3.Row:
        """The first row of a read; `NotFound(missing)` when there is none."""
        row = self.query_one(sql, params)
        if row is None:
            raise NotFound(missing)
        return row

    def close(self) -> None:
        """Close this thread's connection and every idle one (the data folder may go away)."""
        self._drop_own()
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for other in idle:
            other.close()
