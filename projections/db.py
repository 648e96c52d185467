"""Database plumbing for read models: an engine with real SQLite transactions, and upserts."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table, event, func
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

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
    statement object each time lets SQLAlchemy reuse its compiled form.
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


_COMPILED: dict[tuple[Insert, tuple[str, ...]], tuple[str, tuple[str, ...], dict[str, Any]]] = {}


async def execute_many(
    conn: AsyncConnection, stmt: Insert, rows: Iterable[Mapping[str, Any]]
) -> None:
    """Run ``stmt`` for every row (skipped when there are none); rows share one key set.

    The statement is compiled once per key set and run as driver-level ``executemany`` with
    tuples: SQLAlchemy's per-row parameter processing was most of a page's write time.
    """
    batch = list(rows)
    if not batch:
        return
    keys = tuple(batch[0])
    entry = _COMPILED.get((stmt, keys))
    if entry is None:
        compiled = stmt.compile(dialect=conn.dialect, column_keys=list(keys))
        order = tuple(compiled.positiontup or ())
        entry = _COMPILED[(stmt, keys)] = (compiled.string, order, dict(compiled.params))
    sql, order, fixed = entry
    params = [tuple(row[k] if k in row else fixed[k] for k in order) for row in batch]
    await conn.exec_driver_sql(sql, params)
