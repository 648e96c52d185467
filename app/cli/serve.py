"""``ledgergate serve``: migrate an embedded SQLite log, then run the API under uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from app.settings import Settings, load_settings


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the gateway")
    p.add_argument("--host", default=None, help="the address to listen on")
    p.add_argument("--port", type=int, default=None, help="the port to listen on")
    p.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the port and the log"
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn's log level",
    )
    p.set_defaults(handler=run)


async def _end_unfinished_requests(settings: Settings) -> list[str]:
    """Once per start, before any worker: requests a crash cut off get ``request.interrupted``.

    Only requests of nodes without a live lease: a second ``serve`` on the same database (a
    rolling restart, another host) leaves the first one's live requests alone.
    """
    from app.adapters.eventstore import open_event_store
    from app.adapters.leases import NodeLeases
    from app.services.interrupted import mark_interrupted

    store = await open_event_store(settings)
    leases = NodeLeases(settings.database_url, settings.node_lease_s)
    try:
        return await mark_interrupted(store, await leases.live())
    finally:
        await leases.stop()
        await store.close()


def cannot_write_line(database_url: str, exc: BaseException) -> str | None:
    """One clear line for a log the disk will not let us write (no traceback), else None."""
    from app.adapters.eventstore.faults import storage_fault
    from app.adapters.eventstore.migrate import sqlite_path

    fault = storage_fault(exc)
    if fault is None:
        return None
    path = sqlite_path(database_url)
    reason = fault.reason
    if path is not None and not _writable(path):
        reason = "the log file or its folder is read-only"
    where = str(path) if path is not None else database_url
    return f"ledgergate: cannot write the event log {where}: {reason}. Nothing was started."


def _writable(path: Path) -> bool:
    # SQLite writes the file and, in WAL mode, its -wal and -shm files beside it.
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


class MigrationFailed(RuntimeError):
    """The migration child failed for a reason other than the disk; carries its traceback."""


def _migrate(database_url: str, report: Connection) -> None:
    """In the child: upgrade to head, then report ``(None, None)``, ``(line, None)`` for a log
    the disk will not let us write, or ``(None, traceback)``."""
    from app.adapters.eventstore.migrate import upgrade_head

    try:
        upgrade_head(database_url)
    except Exception as exc:
        line = cannot_write_line(database_url, exc)
        report.send((line, None if line else traceback.format_exc()))
    else:
        report.send((None, None))


def migrate_apart(database_url: str) -> str | None:
    """Upgrade the schema to head in a forked child, so alembic and mako (~9 MB) never load
    into the gateway's own process. Returns ``cannot_write_line``'s line, if any; raises
    ``MigrationFailed`` for any other failure. Called before any thread exists (fork)."""
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe(duplex=False)
    child = context.Process(target=_migrate, args=(database_url, theirs), name="migrate")
    child.start()
    theirs.close()
    line: str | None
    failure: str | None
    try:
        line, failure = ours.recv()
    except EOFError:
        line, failure = None, "the migration process ended without a word"
    finally:
        ours.close()
        child.join()
    if failure is not None:
        raise MigrationFailed(f"migrating the log's database failed:\n{failure}")
    return line


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from app.adapters.audit_key import AuditKeyError, load_or_create

    settings = load_settings()
    try:
        line = migrate_apart(settings.database_url)
        interrupted = [] if line else asyncio.run(_end_unfinished_requests(settings))
    except Exception as exc:
        line = cannot_write_line(settings.database_url, exc)
        if line is None:
            raise
    if line:
        print(line, file=sys.stderr)
        return 1
    try:  # before the workers start, so they share one key (created 0600 the first time)
        load_or_create(settings.audit_key_file, settings.audit_origin)
    except AuditKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if interrupted:
        print(f"marked {len(interrupted)} unfinished request(s) as request.interrupted")
    uvicorn.run(
        "app.main:create_app_from_env",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
    )
    return 0
