"""Read-model database plumbing: a transactional SQLite engine, a raw writer thread, upserts."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Table, event, func
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

T = TypeVar("T")

BEGIN_OPTION = "ledgergate_begin"
"""Execution option naming the BEGIN statement; writers use ``BEGIN IMMEDIATE``."""


def create_read_model_engine(database_url: str) -> AsyncEngine:
    """An engine whose transactions are real SQLite transactions.

    pysqlite's legacy mode begins only before DML, so a reader's SELECTs would not share a
    snapshot and a writer's read-then-write could fail with SQLITE_BUSY instead of waiting.
    Here every ``begin()`` emits BEGIN (readers) or BEGIN IMMEDIATE (writers, via the
    ``ledgergate_begin`` execution option), and waits up to 10 s for the write lock.
    """
    engine = create_async_engine(database_url)
    if engine.dialect.name == "sqlite":
        _sqlite_transactions(engine)
    return engine


def _sqlite_transactions(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 10000")
        cursor.execute("PRAGMA journal_mode = WAL")
        # Read models are derived: after a power cut, WAL+NORMAL may lose the last commits but
        # never splits a page from its checkpoint, and the runner simply redoes those pages.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get(BEGIN_OPTION, "BEGIN"))


async def write_connection(engine: AsyncEngine) -> AsyncConnection:
    """A connection whose transactions take the write lock at BEGIN."""
    conn = await engine.connect()
    return await conn.execution_options(**{BEGIN_OPTION: "BEGIN IMMEDIATE"})


@functools.cache
def upsert(
    table: Table,
    *,
    add: tuple[str, ...] = (),
    replace: tuple[str, ...] = (),
    keep_first: tuple[str, ...] = (),
    keep_last: tuple[str, ...] = (),
) -> Insert:
    """INSERT … ON CONFLICT(primary key) DO UPDATE, merging columns by rule.

    ``add``: summed; ``replace``: the new value wins; ``keep_first``: the stored value wins
    unless NULL; ``keep_last``: the new value wins unless NULL or empty text. Cached: the same
    statement object each time lets ``write_rows`` reuse its compiled SQL.
    """
    stmt = sqlite_insert(table)
    ex = stmt.excluded
    sets: dict[str, Any] = {}
    for name in add:
        sets[name] = table.c[name] + ex[name]
    for name in replace:
        sets[name] = ex[name]
    for name in keep_first:
        sets[name] = func.coalesce(table.c[name], ex[name])
    for name in keep_last:
        sets[name] = func.coalesce(func.nullif(ex[name], ""), table.c[name])
    keys = [c.name for c in table.primary_key.columns]
    if not sets:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(index_elements=keys, set_=sets)


_DIALECT = sqlite_dialect.dialect()
_COMPILED: dict[tuple[Insert, tuple[str, ...]], tuple[str, tuple[str, ...], dict[str, Any]]] = {}


def write_rows(db: sqlite3.Connection, stmt: Insert, rows: Iterable[Mapping[str, Any]]) -> None:
    """Run ``stmt`` for every row (skipped when there are none); rows share one key set.

    The statement is compiled once per key set and run as the driver's ``executemany`` with
    tuples: SQLAlchemy's per-row parameter processing was most of a page's write time.
    """
    batch = list(rows)
    if not batch:
        return
    keys = tuple(batch[0])
    entry = _COMPILED.get((stmt, keys))
    if entry is None:
        compiled = stmt.compile(dialect=_DIALECT, column_keys=list(keys))
        order = tuple(compiled.positiontup or ())
        entry = _COMPILED[(stmt, keys)] = (compiled.string, order, dict(compiled.params))
    sql, order, fixed = entry
    db.executemany(sql, [tuple(row[k] if k in row else fixed[k] for k in order) for row in batch])


def sqlite_file(engine: AsyncEngine) -> str:
    """The file behind a read-model engine (the runner opens its own raw connection to it)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        raise ValueError(f"read models need a SQLite file, not {engine.url!r}")
    return database


class RawDb:
    """One raw ``sqlite3`` connection on its own thread, in autocommit mode (explicit BEGIN).

    The runner applies and commits a page in one hop to this thread: aiosqlite and SQLAlchemy
    cost a hop and a statement build per statement, which was most of a small page's cost.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="projections")
        self._conn: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # derived data: see _sqlite_transactions
            self._conn = conn
        return self._conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` with the connection on the connection's thread."""
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, lambda: fn(self._open())
        )

    async def close(self) -> None:
        # Queued behind any job still running (one a cancelled caller left behind).
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._thread, close)
        self._thread.shutdown(wait=False)
