"""Read models: projection checkpoints and the tables of every projection (see projections.schema).

Revision ID: 0002_read_models
Revises: 0001_event_log
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_read_models"
down_revision: str | Sequence[str] | None = "0001_event_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "projection_checkpoints",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("name", "generation"),
    )
    op.create_table(
        "rm_acl_stats",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("count", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("generation", "action", "resource", "rule", "key_id", "decision"),
    )
    op.create_table(
        "rm_discovery",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("last_scan_id", sa.Text(), nullable=True),
        sa.Column("last_reason", sa.String(length=16), nullable=True),
        sa.Column("last_started_at", sa.String(length=40), nullable=True),
        sa.Column("last_completed_at", sa.String(length=40), nullable=True),
        sa.Column("last_loaded", sa.Integer(), nullable=True),
        sa.Column("last_failed", sa.Integer(), nullable=True),
        sa.Column("last_unloaded", sa.Integer(), nullable=True),
        sa.Column("last_unchanged", sa.Integer(), nullable=True),
        sa.Column("last_duration_us", sa.BigInteger(), nullable=True),
        sa.Column("scans_started", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("scans_completed", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("generation"),
    )
    op.create_table(
        "rm_dropin_failures",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("error_type", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("generation", "error_type"),
    )
    op.create_table(
        "rm_dropins",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("entrypoint", sa.Text(), nullable=True),
        sa.Column("tools", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(length=80), nullable=True),
        sa.Column("error_type", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("remediation", sa.Text(), nullable=True),
        sa.Column("first_seen_at", sa.String(length=40), nullable=True),
        sa.Column("last_seen_at", sa.String(length=40), nullable=False),
        sa.Column("loaded_at", sa.String(length=40), nullable=True),
        sa.Column("first_failed_at", sa.String(length=40), nullable=True),
        sa.Column("last_failed_at", sa.String(length=40), nullable=True),
        sa.Column("load_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("failure_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("generation", "path"),
    )
    op.create_table(
        "rm_log_types",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.Column("last_recorded_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("generation", "type"),
    )
    op.create_table(
        "rm_names",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("first_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("generation", "kind", "name"),
    )
    op.create_table(
        "rm_request_latency",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("le_index", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("generation", "bucket", "model", "metric", "le_index"),
    )
    op.create_table(
        "rm_request_stats",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("duration_us_sum", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("ttft_us_sum", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("ttft_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("generation", "bucket", "model", "target", "key_id", "status"),
    )
    op.create_table(
        "rm_requests",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=80), nullable=False),
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.String(length=40), nullable=False),
        sa.Column("finished_at", sa.String(length=40), nullable=True),
        sa.Column("first_position", sa.BigInteger(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.Column("duration_us", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("ttft_us", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("finish_reason", sa.String(length=32), server_default="", nullable=False),
        sa.Column("error_type", sa.Text(), server_default="", nullable=False),
        sa.Column("http_status", sa.Integer(), server_default="0", nullable=False),
        sa.Column("deltas", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("upstream_calls", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tool_calls", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("acl_denials", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("generation", "request_id"),
    )
    with op.batch_alter_table("rm_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rm_requests_recent", ["generation", "first_position"], unique=False
        )
        batch_op.create_index("ix_rm_requests_status", ["generation", "status"], unique=False)

    op.create_table(
        "rm_tool_latency",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("tool", sa.Text(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("le_index", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("generation", "tool", "agent", "source", "le_index"),
    )
    op.create_table(
        "rm_tool_stats",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("tool", sa.Text(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("calls", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("ok", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("errors", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("denials", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("timeouts", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("duration_us_sum", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("generation", "tool", "agent", "source"),
    )


def downgrade() -> None:
    op.drop_table("rm_tool_stats")
    op.drop_table("rm_tool_latency")
    with op.batch_alter_table("rm_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_rm_requests_status")
        batch_op.drop_index("ix_rm_requests_recent")

    op.drop_table("rm_requests")
    op.drop_table("rm_request_stats")
    op.drop_table("rm_request_latency")
    op.drop_table("rm_names")
    op.drop_table("rm_log_types")
    op.drop_table("rm_dropins")
    op.drop_table("rm_dropin_failures")
    op.drop_table("rm_discovery")
    op.drop_table("rm_acl_stats")
    op.drop_table("projection_checkpoints")
