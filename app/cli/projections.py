"""``ledgergate projections status|rebuild`` and ``ledgergate replay REQUEST_ID``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from app.adapters.eventstore import open_event_store
from app.adapters.eventstore.migrate import sqlite_path, upgrade_head
from app.services.replay import replay
from app.settings import Settings, load_settings
from domain.ports import EventStore
from projections import queries, snapshot
from projections.db import create_read_model_engine
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS

Command = Callable[[EventStore, Settings, argparse.Namespace], Awaitable[int]]


def register(sub: Any) -> None:  # argparse's subparsers action has no public type
    p = sub.add_parser("projections", help="read-model positions and lag; rebuild from 0")
    actions = p.add_subparsers(dest="projections_command", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="position, head and lag of each read model")
    status.add_argument("--json", action="store_true", help="one JSON object per line")
    status.set_defaults(handler=_run(_status))
    build = actions.add_parser("rebuild", help="replay the log from 0 into fresh read models")
    build.add_argument(
        "name",
        nargs="?",
        choices=sorted(PROJECTIONS),
        metavar="NAME",
        help=f"one of: {', '.join(PROJECTIONS)} (default: all)",
    )
    build.set_defaults(handler=_run(_rebuild))
    again = sub.add_parser("replay", help="rebuild one request from the log, as JSON")
    again.add_argument("request_id", metavar="REQUEST_ID", help="the completion's id")
    again.set_defaults(handler=_run(_replay))
    for parser in (status, build, again):
        parser.add_argument(
            "--database-url", default=None, metavar="URL", help="the event log's database URL"
        )


def _run(fn: Command) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        settings = load_settings()
        if args.database_url:
            settings = msgspec.structs.replace(settings, database_url=args.database_url)
        if settings.database_url.startswith("memory:"):
            print("an in-memory log lives only inside its gateway process", file=sys.stderr)
            return 2
        path = sqlite_path(settings.database_url)
        if path is not None and not path.exists():
            print(f"no event log at {path}", file=sys.stderr)
            return 2
        upgrade_head(settings.database_url)  # the read-model tables may be newer than the log
        result: int = asyncio.run(_with_store(settings, fn, args))
        return result

    return handler


async def _with_store(settings: Settings, fn: Command, args: argparse.Namespace) -> int:
    store = await open_event_store(settings)
    try:
        return await fn(store, settings, args)
    finally:
        await store.close()


async def _status(store: EventStore, settings: Settings, args: argparse.Namespace) -> int:
    engine = create_read_model_engine(settings.database_url)
    try:
        models = await queries.load(engine, frozenset())
    finally:
        await engine.dispose()
    statuses = snapshot.statuses(models, await store.head())
    if args.json:
        for s in statuses:
            print(msgspec.json.encode(s).decode())
        return 0
    print(
        f"{'projection':<12} {'generation':>10} {'position':>10} {'head':>10} {'lag':>8}  updated"
    )
    for s in statuses:
        print(
            f"{s.name:<12} {s.generation:>10} {s.position:>10} {s.head:>10} {s.lag:>8}  "
            f"{s.updated_at}"
        )
    missing = sorted(set(PROJECTIONS) - {s.name for s in statuses})
    for name in missing:
        print(f"{name:<12} {'-':>10} {'-':>10} {await store.head():>10} {'-':>8}  never run")
    return 0


async def _rebuild(store: EventStore, settings: Settings, args: argparse.Namespace) -> int:
    engine = create_read_model_engine(settings.database_url)
    try:
        names = [args.name] if args.name else None
        built = await rebuild(store, engine, names)
    finally:
        await engine.dispose()
    for name, checkpoint in built.items():
        print(
            f"rebuilt {name}: generation {checkpoint.generation} at position {checkpoint.position}"
        )
    return 0


async def _replay(store: EventStore, settings: Settings, args: argparse.Namespace) -> int:
    replayed = await replay(store, args.request_id)
    if replayed is None:
        print(f"no request {args.request_id!r} in the log", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(replayed)) + b"\n")
    return 0
