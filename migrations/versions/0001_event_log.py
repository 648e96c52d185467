"""The event log: events, stream and type ids, and the chain head.

Revision ID: 0001_event_log
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_event_log"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# 64-bit on PostgreSQL (positions and microsecond times outgrow int4); SQLite keeps INTEGER so
# that ``INTEGER PRIMARY KEY`` stays the rowid (the DDL on SQLite is unchanged since 0.1).
BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_streams",
        sa.Column("stream_id", BIG, primary_key=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
    )
    op.create_table(
        "event_types",
        sa.Column("type_id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
    )
    op.create_table(
        "events",
        sa.Column("position", BIG, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.LargeBinary(), nullable=False),
        sa.Column("stream_id", BIG, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("recorded_at", BIG, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("meta", sa.LargeBinary(), nullable=True),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ux_events_event_id", "events", ["event_id"], unique=True)
    op.create_index("ux_events_stream_version", "events", ["stream_id", "version"], unique=True)
    op.create_index("ix_events_type", "events", ["type_id"])
    op.create_table(
        "event_log_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("position", BIG, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_log_head")
    op.drop_index("ix_events_type", table_name="events")
    op.drop_index("ux_events_stream_version", table_name="events")
    op.drop_index("ux_events_event_id", table_name="events")
    op.drop_table("events")
    op.drop_table("event_types")
    op.drop_table("event_streams")
