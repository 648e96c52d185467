"""Event ids as PostgreSQL ``bytea``: 16 bytes for a canonical UUID, else the id's UTF-8 text.

SQLite's column holds either a blob or text; ``bytea`` holds only bytes, so a text id that is
itself 16 bytes long gets one trailing NUL byte (17 bytes), which ``pg_event_id_text`` drops:
every id reads back as written.
"""

from __future__ import annotations

from app.adapters.eventstore.sqlite_reader import event_id_text
from app.adapters.eventstore.sqlite_writer import event_id_key

UUID_BYTES = 16


def pg_event_id_key(event_id: str) -> bytes:
    key = event_id_key(event_id)
    if isinstance(key, bytes):
        return key
    raw = key.encode("utf-8")
    return raw + b"\x00" if len(raw) == UUID_BYTES else raw


def pg_event_id_text(value: bytes) -> str:
    if len(value) == UUID_BYTES:
        return event_id_text(value)
    if len(value) == UUID_BYTES + 1 and value.endswith(b"\x00"):
        value = value[:-1]
    return value.decode("utf-8")
