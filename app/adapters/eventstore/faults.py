"""Storage faults a client can wait out (disk full, read-only file, I/O error), not bugs.

The store turns them into ``LogUnavailable``: the API answers 503 with ``Retry-After``, readiness
reports not-ready, and the store probes the disk until a write succeeds again.
"""

from __future__ import annotations

import sqlite3

from domain.ports import LogUnavailable

_REASONS = {
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_READONLY: "the log is read-only",
    sqlite3.SQLITE_IOERR: "a disk I/O error",
    sqlite3.SQLITE_CANTOPEN: "the log file cannot be opened",
    sqlite3.SQLITE_PERM: "the log file cannot be written (permissions)",
    sqlite3.SQLITE_BUSY: "another process holds the log's write lock",
}


def storage_fault(exc: BaseException) -> LogUnavailable | None:
    """``LogUnavailable`` for a driver error caused by the disk or file, else None."""
    if isinstance(exc, LogUnavailable):
        return exc
    driver = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    code = getattr(driver, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    reason = _REASONS.get(code & 0xFF)
    return LogUnavailable(reason) if reason is not None else None
