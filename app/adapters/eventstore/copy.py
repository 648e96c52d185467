"""Copy a log into another database, positions, times and hashes unchanged (SQLite → PostgreSQL).

A cold path: pages from the source store, rows into the destination through SQLAlchemy Core, one
transaction per page. The source's chain is checked link by link as it is read, so a log that
does not verify is not copied past its first bad event. A destination that already holds a prefix
of the same log (the same hash at its last position) is continued, so an interrupted copy is
simply run again. No gateway may write to the destination meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, insert, select, update
from sqlalchemy.engine import Connection

from app.adapters.eventstore.canonical import ZERO_HEX
from app.adapters.eventstore.event_ids import event_id_key, pg_event_id_key
from app.adapters.eventstore.migrate import is_postgres, sync_url, upgrade_head
from app.adapters.eventstore.schema import event_log_head, event_streams, event_types, events
from domain.ports import EventStore, RecordedEvent

PAGE = 5000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


class CopyRefused(Exception):
    """The destination holds another log, or the source's chain is broken."""


def micros_of(recorded_at: str) -> int:
    """``recorded_at`` (RFC 3339, ``…ss.ffffffZ``) back to integer microseconds, exactly."""
    moment = datetime.strptime(recorded_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICRO


def _ids(conn: Connection, table: str, names: set[str]) -> dict[str, int]:
    t = event_streams if table == "streams" else event_types
    key = t.c.stream_id if table == "streams" else t.c.type_id
    found = {n: int(i) for n, i in conn.execute(select(t.c.name, key).where(t.c.name.in_(names)))}
    for name in sorted(names - found.keys()):
        found[name] = int(conn.execute(insert(t).values(name=name).returning(key)).scalar_one())
    return found


def _head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(select(event_log_head.c.position, event_log_head.c.hash)).first()
    if row is None or row[0] == 0:
        return 0, ZERO_HEX
    return int(row[0]), bytes(row[1]).hex()


async def copy_log(
    source: EventStore, to_url: str, progress: Callable[[int], None] | None = None
) -> int:
    """Copy ``source`` into the database at ``to_url`` (migrated first); return its new head."""
    upgrade_head(to_url)
    key_of: Callable[[str], bytes | str] = pg_event_id_key if is_postgres(to_url) else event_id_key
    engine = create_engine(sync_url(to_url))
    try:
        with engine.begin() as conn:
            done, last_hash = _head(conn)
        if done:
            mine = await source.read_all(done - 1, 1)
            if not mine or mine[0].position != done or mine[0].hash != last_hash:
                raise CopyRefused(f"the destination holds another log (its head is {done})")
        while page := await source.read_all(done, PAGE):
            _check_links(page, done, last_hash)
            with engine.begin() as conn:
                _write_page(conn, page, key_of, first=done == 0)
            done, last_hash = page[-1].position, page[-1].hash
            if progress is not None:
                progress(done)
        return done
    finally:
        engine.dispose()


def _check_links(page: list[RecordedEvent], after: int, prev: str) -> None:
    for rec in page:
        if rec.position != after + 1 or rec.prev_hash != prev:
            raise CopyRefused(f"the source log breaks at position {after + 1}: verify it first")
        after, prev = rec.position, rec.hash


def _write_page(
    conn: Connection, page: list[RecordedEvent], key_of: Callable[[str], bytes | str], first: bool
) -> None:
    streams = _ids(conn, "streams", {r.stream for r in page})
    types = _ids(conn, "types", {r.type for r in page})
    conn.execute(
        insert(events),
        [
            {
                "position": r.position,
                "event_id": key_of(r.event_id),
                "stream_id": streams[r.stream],
                "version": r.version,
                "type_id": types[r.type],
                "schema_version": r.schema_version,
                "recorded_at": micros_of(r.recorded_at),
                "data": r.data,
                "meta": None if r.meta == b"{}" else r.meta,
                "hash": bytes.fromhex(r.hash),
            }
            for r in page
        ],
    )
    last = page[-1]
    values = {"position": last.position, "hash": bytes.fromhex(last.hash)}
    if first and conn.execute(select(event_log_head.c.id)).first() is None:
        conn.execute(insert(event_log_head).values(id=1, **values))
    else:
        conn.execute(update(event_log_head).where(event_log_head.c.id == 1).values(**values))
