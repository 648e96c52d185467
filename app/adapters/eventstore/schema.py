"""SQLAlchemy metadata of the event log's tables (alembic compares it with the database).

Small on disk by design (the budget is 200 bytes per ``stream.delta`` event, indexes included):
streams and types are integer ids, event ids of UUID form are 16-byte blobs, hashes 32-byte
blobs, ``recorded_at`` integer microseconds, ``meta`` NULL when ``{}``, and ``prev_hash`` is not
stored (it is the previous position's hash). ``event_log_head`` holds the last position and hash:
positions continue from it (never reused, even if rows vanish) and ``verify`` uses it to detect
a truncated tail. Payloads evolve through ``schema_version``, never by changing these columns.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

BIG = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit on PostgreSQL; plain INTEGER on SQLite, where ``INTEGER PRIMARY KEY`` is the rowid."""

metadata = MetaData()

event_streams = Table(
    "event_streams",
    metadata,
    Column("stream_id", BIG, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
)

event_types = Table(
    "event_types",
    metadata,
    Column("type_id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
)

events = Table(
    "events",
    metadata,
    Column("position", BIG, primary_key=True, autoincrement=False),
    # 16-byte blob for a canonical lowercase UUID string, else the id's text.
    Column("event_id", LargeBinary, nullable=False),
    Column("stream_id", BIG, nullable=False),
    Column("version", Integer, nullable=False),
    Column("type_id", Integer, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("recorded_at", BIG, nullable=False),  # microseconds since the epoch, UTC
    Column("data", LargeBinary, nullable=False),  # RFC 8785 canonical JSON object
    Column("meta", LargeBinary, nullable=True),  # canonical JSON object; NULL means {}
    Column("hash", LargeBinary, nullable=False),  # SHA-256 of the exported event without hash
    Index("ux_events_event_id", "event_id", unique=True),
    Index("ux_events_stream_version", "stream_id", "version", unique=True),
    # SQLite appends the rowid (position) to every index entry: (type_id) reads in position order.
    Index("ix_events_type", "type_id"),
)

event_log_head = Table(
    "event_log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("position", BIG, nullable=False),
    Column("hash", LargeBinary, nullable=False),
)

# One row per serving process while it lives: requests it leaves open are ended only once its
# lease has expired (issue 11, item 2). Times are microseconds since the epoch, UTC.
node_leases = Table(
    "node_leases",
    metadata,
    Column("node_id", String(64), primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)
