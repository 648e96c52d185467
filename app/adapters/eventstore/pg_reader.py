"""The PostgreSQL read side: ``reader``'s pages on an autocommit connection of its own.

An event id is ``bytea`` (``event_ids``); the head is ``event_log_head``'s row, which every
writer moves in its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from app.adapters.eventstore.event_ids import pg_event_id_text
from app.adapters.eventstore.reader import LogReader


class PostgresReader(LogReader):
    """One autocommit connection; every method runs on the reader thread only."""

    ARG = "%s"

    def __init__(self, conninfo: str) -> None:
        super().__init__()
        self.pg = psycopg.connect(conninfo, autocommit=True)

    def close(self) -> None:
        self.pg.close()

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.pg.execute(sql, params).fetchall()

    _event_id = staticmethod(pg_event_id_text)

    def _type_is_one_of(self, type_ids: list[int]) -> tuple[str, list[Any]]:
        return "e.type_id = ANY(%s)", [type_ids]

    def head(self) -> int:
        row = self.pg.execute("SELECT position FROM event_log_head WHERE id = 1").fetchone()
        return int(row[0]) if row else 0
