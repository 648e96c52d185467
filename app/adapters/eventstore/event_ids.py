"""Event ids as the log stores them: 16 bytes for a canonical UUID, else the id's text.

SQLite's column holds either a blob or text. PostgreSQL's ``bytea`` holds only bytes, so there a
text id is its UTF-8, and one that is itself 16 bytes long gets one trailing NUL byte (17 bytes),
which ``pg_event_id_text`` drops: every id reads back as written, on both.
"""

from __future__ import annotations

UUID_BYTES = 16


def event_id_key(event_id: str) -> bytes | str:
    """16 bytes for a canonical lowercase UUID string (it reads back identical), else the text.

    Canonical means ``[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}``; checked
    without that regex (half the cost per event): four dashes in their places, and hex digits
    that ``bytes.hex`` gives back unchanged (``fromhex`` also takes upper case and spaces).
    """
    if len(event_id) == 36 and event_id[8] == event_id[13] == event_id[18] == event_id[23] == "-":
        digits = event_id.replace("-", "")
        if len(digits) == 32:
            try:
                key = bytes.fromhex(digits)
            except ValueError:
                return event_id
            if key.hex() == digits:
                return key
    return event_id


def event_id_text(value: bytes | str) -> str:
    if isinstance(value, str):
        return value
    h = value.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
