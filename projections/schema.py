"""SQLAlchemy metadata of the read-model tables (kept apart from the event log's metadata)."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
