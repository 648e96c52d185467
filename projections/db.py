"""Read-model database plumbing: a transactional engine, a raw writer thread, upserts.

Read models live in the log's database: a SQLite file, or PostgreSQL (psycopg 3). The runner
writes through a raw driver connection (``Db``); reads go through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import BigInteger, String, Table, cast, event, func
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

if TYPE_CHECKING:
    import psycopg

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
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = create_async_engine(url)
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


def total(column: Any) -> Any:
    """SUM as a 64-bit integer: PostgreSQL sums bigints as numeric (Python ``Decimal``)."""
    return cast(func.sum(column), BigInteger)


class PgConnection:
    """A psycopg connection with the slice of ``sqlite3.Connection`` the projections use.

    Autocommit, with explicit BEGIN/COMMIT as on SQLite; ``?`` placeholders become ``%s`` and
    ``BEGIN IMMEDIATE`` a plain BEGIN (PostgreSQL locks rows, not the file).
    """

    def __init__(self, conninfo: str) -> None:
        import psycopg  # here: a gateway on SQLite never loads psycopg and its libpq (~9 MB)

        self.conn = psycopg.connect(conninfo, autocommit=True)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self.conn.execute(_pg_sql(sql), params)

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        cursor = self.conn.cursor()
        cursor.executemany(_pg_sql(sql), params)
        return cursor

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.conn.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self.conn.close()


Db = sqlite3.Connection | PgConnection
"""The runner's raw connection: SQLite's driver, or psycopg behind ``PgConnection``."""


@functools.cache
def _pg_sql(sql: str) -> str:
    return "BEGIN" if sql == "BEGIN IMMEDIATE" else sql.replace("?", "%s")


@dataclass(frozen=True)
class Upsert:
    """INSERT … ON CONFLICT(primary key) DO UPDATE, merging columns by rule, for any dialect."""

    table: Table
    add: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    keep_first: tuple[str, ...] = ()
    keep_last: tuple[str, ...] = ()

    @functools.cache  # noqa: B019 - a handful of frozen, module-level statements
    def statement(self, dialect: str) -> Insert:
        table = self.table
        stmt = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
        ex = stmt.excluded
        sets: dict[str, Any] = {}
        for name in self.add:
            sets[name] = table.c[name] + ex[name]
        for name in self.replace:
            sets[name] = ex[name]
        for name in self.keep_first:
            sets[name] = func.coalesce(table.c[name], ex[name])
        for name in self.keep_last:
            # Text columns only: PostgreSQL will not compare an integer with ''.
            text_column = isinstance(table.c[name].type, String)
            new: Any = func.nullif(ex[name], "") if text_column else ex[name]
            sets[name] = func.coalesce(new, table.c[name])
        keys = [c.name for c in table.primary_key.columns]
        if not sets:
            return stmt.on_conflict_do_nothing(index_elements=keys)
        return stmt.on_conflict_do_update(index_elements=keys, set_=sets)


@functools.cache
def upsert(
    table: Table,
    *,
    add: tuple[str, ...] = (),
    replace: tuple[str, ...] = (),
    keep_first: tuple[str, ...] = (),
    keep_last: tuple[str, ...] = (),
) -> Upsert:
    """INSERT … ON CONFLICT(primary key) DO UPDATE, merging columns by rule.

    ``add``: summed; ``replace``: the new value wins; ``keep_first``: the stored value wins
    unless NULL; ``keep_last``: the new value wins unless NULL or empty text. Cached: the same
    statement object each time lets ``write_rows`` reuse its compiled SQL.
    """
    return Upsert(table, add, replace, keep_first, keep_last)


_DIALECTS = {
    "sqlite": sqlite_dialect.dialect(),
    "postgresql": pg_dialect.psycopg.dialect(paramstyle="format"),  # type: ignore[no-untyped-call]
}
_COMPILED: dict[tuple[Upsert, str, tuple[str, ...]], tuple[str, tuple[str, ...], dict[str, Any]]]
_COMPILED = {}


def write_rows(db: Db, stmt: Upsert, rows: Iterable[Mapping[str, Any]]) -> None:
    """Run ``stmt`` for every row (skipped when there are none); rows share one key set.

    The statement is compiled once per dialect and key set and run as the driver's
    ``executemany`` with tuples: SQLAlchemy's per-row parameter processing was most of a page's
    write time.
    """
    batch = list(rows)
    if not batch:
        return
    keys = tuple(batch[0])
    dialect = "sqlite" if isinstance(db, sqlite3.Connection) else "postgresql"
    entry = _COMPILED.get((stmt, dialect, keys))
    if entry is None:
        compiled = stmt.statement(dialect).compile(
            dialect=_DIALECTS[dialect], column_keys=list(keys)
        )
        order = tuple(compiled.positiontup or ())
        entry = (compiled.string, order, dict(compiled.params))
        _COMPILED[(stmt, dialect, keys)] = entry
    sql, order, fixed = entry
    db.executemany(sql, [tuple(row[k] if k in row else fixed[k] for k in order) for row in batch])


def raw_opener(engine: AsyncEngine) -> Callable[[], Db]:
    """How the runner opens its own raw connection to the read models of ``engine``."""
    if engine.dialect.name == "postgresql":
        info = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return lambda: PgConnection(info)
    path = sqlite_file(engine)
    return lambda: _sqlite_connection(path)


def _sqlite_connection(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # derived data: see _sqlite_transactions
    return conn


def sqlite_file(engine: AsyncEngine) -> str:
    """The file behind a read-model engine (the runner opens its own raw connection to it)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        raise ValueError(f"read models need a SQLite file, not {engine.url!r}")
    return database


class RawDb:
    """One raw connection (``Db``) on its own thread, in autocommit mode (explicit BEGIN).

    The runner applies and commits a page in one hop to this thread: aiosqlite and SQLAlchemy
    cost a hop and a statement build per statement, which was most of a small page's cost.
    """

    def __init__(self, opener: Callable[[], Db]) -> None:
        self._opener = opener
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="projections")
        self._conn: Db | None = None

    def _open(self) -> Db:
        if self._conn is None:
            self._conn = self._opener()
        return self._conn

    async def run(self, fn: Callable[[Db], T]) -> T:
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
