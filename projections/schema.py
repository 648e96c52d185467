"""SQLAlchemy metadata of the read-model tables (kept apart from the event log's metadata).

Every read-model row carries a ``generation``: a rebuild writes a fresh generation beside the
live one and swaps it in by flipping its checkpoint to ``live``. Generation numbers are unique
across projections, so a table shared by several projections (``rm_names``) needs no extra key.
Durations are integer microseconds, times RFC 3339 text, as in the log.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()


def _gen() -> Column[int]:
    return Column("generation", Integer, primary_key=True)


def _count(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=False, server_default="0")


projection_checkpoints = Table(
    "projection_checkpoints",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("generation", Integer, primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),  # "live" | "building"
    Column("updated_at", String(40), nullable=False),
)

# Label values in first-seen order, so bounded Prometheus labels are stable and rebuildable.
rm_names = Table(
    "rm_names",
    metadata,
    _gen(),
    Column("kind", String(32), primary_key=True),
    Column("name", Text, primary_key=True),
    Column("first_position", BigInteger, nullable=False),
)

# --- requests ------------------------------------------------------------------------------

rm_requests = Table(
    "rm_requests",
    metadata,
    _gen(),
    Column("request_id", String(80), primary_key=True),
    Column("key_id", String(80), nullable=False),
    Column("model", Text, nullable=False),
    Column("target", String(16), nullable=False),
    Column("stream", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("received_at", String(40), nullable=False),
    Column("finished_at", String(40), nullable=True),
    Column("first_position", BigInteger, nullable=False),
    Column("last_position", BigInteger, nullable=False),
    _count("duration_us"),
    _count("ttft_us"),
    _count("prompt_tokens"),
    _count("completion_tokens"),
    Column("finish_reason", String(32), nullable=False, server_default=""),
    Column("error_type", Text, nullable=False, server_default=""),
    Column("http_status", Integer, nullable=False, server_default="0"),
    _count("deltas"),
    _count("upstream_calls"),
    _count("tool_calls"),
    _count("acl_denials"),
)
Index("ix_rm_requests_recent", rm_requests.c.generation, rm_requests.c.first_position)
Index("ix_rm_requests_status", rm_requests.c.generation, rm_requests.c.status)

rm_request_stats = Table(
    "rm_request_stats",
    metadata,
    _gen(),
    Column("bucket", String(16), primary_key=True),  # "YYYY-MM-DDTHH:MM" (UTC minute)
    Column("model", Text, primary_key=True),
    Column("target", String(16), primary_key=True),
    Column("key_id", String(80), primary_key=True),
    Column("status", String(16), primary_key=True),
    _count("count"),
    _count("duration_us_sum"),
    _count("ttft_us_sum"),
    _count("ttft_count"),
    _count("prompt_tokens"),
    _count("completion_tokens"),
)

# Histograms by minute and model only (per key there are counts and tokens): a key dimension
# multiplied the rows written per page by the number of active keys.
rm_request_latency = Table(
    "rm_request_latency",
    metadata,
    _gen(),
    Column("bucket", String(16), primary_key=True),
    Column("model", Text, primary_key=True),
    Column("metric", String(16), primary_key=True),  # "duration" | "ttft"
    Column("le_index", Integer, primary_key=True),
    _count("count"),
)

# --- tools ---------------------------------------------------------------------------------

rm_tool_stats = Table(
    "rm_tool_stats",
    metadata,
    _gen(),
    Column("tool", Text, primary_key=True),
    Column("agent", Text, primary_key=True),
    Column("source", String(16), primary_key=True),
    _count("calls"),
    _count("ok"),
    _count("errors"),
    _count("denials"),
    _count("timeouts"),
    _count("duration_us_sum"),
)

rm_tool_latency = Table(
    "rm_tool_latency",
    metadata,
    _gen(),
    Column("tool", Text, primary_key=True),
    Column("agent", Text, primary_key=True),
    Column("source", String(16), primary_key=True),
    Column("le_index", Integer, primary_key=True),
    _count("count"),
)

# --- discovery -----------------------------------------------------------------------------

rm_discovery = Table(
    "rm_discovery",
    metadata,
    _gen(),
    Column("last_scan_id", Text, nullable=True),
    Column("last_reason", String(16), nullable=True),
    Column("last_started_at", String(40), nullable=True),
    Column("last_completed_at", String(40), nullable=True),
    Column("last_loaded", Integer, nullable=True),
    Column("last_failed", Integer, nullable=True),
    Column("last_unloaded", Integer, nullable=True),
    Column("last_unchanged", Integer, nullable=True),
    Column("last_duration_us", BigInteger, nullable=True),
    _count("scans_started"),
    _count("scans_completed"),
)

rm_dropins = Table(
    "rm_dropins",
    metadata,
    _gen(),
    Column("path", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # "loaded" | "failed" | "unloaded"
    Column("entrypoint", Text, nullable=True),
    Column("tools", Text, nullable=True),  # JSON list
    Column("digest", String(80), nullable=True),
    Column("error_type", Text, nullable=True),
    Column("message", Text, nullable=True),
    Column("remediation", Text, nullable=True),
    Column("first_seen_at", String(40), nullable=True),
    Column("last_seen_at", String(40), nullable=False),
    Column("loaded_at", String(40), nullable=True),
    Column("first_failed_at", String(40), nullable=True),
    Column("last_failed_at", String(40), nullable=True),
    _count("load_count"),
    _count("failure_count"),
)

rm_dropin_failures = Table(
    "rm_dropin_failures",
    metadata,
    _gen(),
    Column("error_type", Text, primary_key=True),
    _count("count"),
)

# --- ACL -----------------------------------------------------------------------------------

rm_acl_stats = Table(
    "rm_acl_stats",
    metadata,
    _gen(),
    Column("action", String(32), primary_key=True),
    Column("resource", Text, primary_key=True),
    Column("rule", Text, primary_key=True),
    Column("key_id", String(80), primary_key=True),
    Column("decision", String(8), primary_key=True),
    _count("count"),
)

# --- the log itself ------------------------------------------------------------------------

rm_log_types = Table(
    "rm_log_types",
    metadata,
    _gen(),
    Column("type", String(64), primary_key=True),
    _count("count"),
    Column("last_position", BigInteger, nullable=False),
    Column("last_recorded_at", String(40), nullable=False),
)

# --- the audit tree (RFC 9162) -------------------------------------------------------------
# Not a generational read model: the tree of a log never changes, so it is only ever extended.

AUDIT_NODE_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite: the rowid itself

audit_tree_nodes = Table(
    "audit_tree_nodes",
    metadata,
    # (level << 48) | index: the perfect subtree of 2**level leaves from index * 2**level.
    Column("node_id", AUDIT_NODE_ID, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

audit_tree_head = Table(
    "audit_tree_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("size", BigInteger, nullable=False),  # leaves in the tree = last position applied
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),  # of its event
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
)
