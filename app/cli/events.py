"""``ledgergate events export|tail|verify``: the log as JSON Lines, and its integrity check."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import msgspec

from app.adapters.audit_key import load_or_create
from app.adapters.audit_verify import verify_checkpoints
from app.adapters.eventstore import open_event_store
from app.adapters.eventstore.export import export_line, verify
from app.adapters.eventstore.migrate import sqlite_path
from app.services.event_pages import iter_events
from app.settings import Settings, load_settings
from domain.ports import EventStore


def register(sub: Any) -> None:  # argparse's subparsers action has no public type
    p = sub.add_parser("events", help="export, tail or verify the event log")
    actions = p.add_subparsers(dest="events_command", metavar="ACTION", required=True)

    export = actions.add_parser("export", help="print events as JSON Lines")
    export.add_argument(
        "--after", type=int, default=0, metavar="POS", help="only events after this position"
    )
    export.add_argument("--stream", default=None, metavar="S", help="only this stream's events")
    export.add_argument(
        "--type",
        action="append",
        default=None,
        metavar="T",
        dest="types",
        help="only events of this type (repeatable)",
    )
    export.set_defaults(handler=_run(_export))

    tail = actions.add_parser("tail", help="print the last events, optionally follow new ones")
    tail.add_argument("-n", "--lines", type=int, default=10, metavar="N", help="how many events")
    tail.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    tail.set_defaults(handler=_run(_tail))

    check = actions.add_parser(
        "verify", help="check positions, the hash chain and every signed checkpoint"
    )
    check.add_argument(
        "--key",
        default=None,
        metavar="VKEY",
        help="verifier key of the checkpoints (default: the one of LEDGERGATE_AUDIT_KEY_FILE)",
    )
    check.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="a checkpoint note kept outside the log: the log must still hold its tree",
    )
    check.set_defaults(handler=_run(_verify))

    copy = actions.add_parser(
        "copy", help="copy the log into another database, positions and hashes unchanged"
    )
    copy.add_argument(
        "--to", required=True, metavar="URL", dest="to_url", help="the target database's URL"
    )
    copy.set_defaults(handler=_run(_copy))

    for action in (export, tail, check, copy):
        action.add_argument(
            "--database-url", default=None, metavar="URL", help="the event log's database URL"
        )


def _run(fn: Any) -> Any:
    def handler(args: argparse.Namespace) -> int:
        settings = load_settings()
        if args.database_url:
            settings = msgspec.structs.replace(settings, database_url=args.database_url)
        path = sqlite_path(settings.database_url)
        if path is not None and not path.exists():
            print(f"no event log at {path}", file=sys.stderr)
            return 2
        result: int = asyncio.run(_with_store(settings, fn, args))
        return result

    return handler


async def _with_store(settings: Settings, fn: Any, args: argparse.Namespace) -> int:
    store = await open_event_store(settings)
    try:
        result: int = await fn(store, args)
        return result
    finally:
        await store.close()


def _write(lines: list[bytes]) -> None:
    if lines:
        sys.stdout.buffer.write(b"\n".join(lines) + b"\n")
        sys.stdout.buffer.flush()


async def _export(store: EventStore, args: argparse.Namespace) -> int:
    lines: list[bytes] = []
    async for rec in iter_events(store, args.after, args.stream, args.types):
        lines.append(export_line(rec))
        if len(lines) >= 1000:
            _write(lines)
            lines = []
    _write(lines)
    return 0


async def _tail(store: EventStore, args: argparse.Namespace) -> int:
    after = max(await store.head() - max(args.lines, 0), 0)
    if not args.follow:
        _write([export_line(rec) async for rec in iter_events(store, after)])
        return 0
    async for page in store.subscribe(after):
        _write([export_line(rec) for rec in page])
    return 0


async def _verify(store: EventStore, args: argparse.Namespace) -> int:
    verdict = await verify(store)
    if not verdict.ok:
        print(f"bad position {verdict.bad_position}: {verdict.reason} ({verdict.count} events ok)")
        return 1
    vkey = args.key or _local_verifier_key()
    if vkey is None and args.checkpoint:
        print("--checkpoint needs the verifier key: give --key VKEY", file=sys.stderr)
        return 2
    if vkey is None:
        print(f"ok {verdict.count} events")
        print("signed checkpoints not checked: no audit key (give --key VKEY)", file=sys.stderr)
        return 0
    held = _read_notes(args.checkpoint)
    checked = await verify_checkpoints(store, vkey, held)
    if checked.bad_position is not None:
        print(f"bad position {checked.bad_position}: {checked.reason} ({verdict.count} events)")
        return 1
    print(f"ok {verdict.count} events")
    if checked.checked:
        print(f"ok {checked.checked} signed checkpoints")
    return 0


def _read_notes(paths: list[str]) -> list[str]:
    return [Path(path).read_text(encoding="utf-8") for path in paths]


def _local_verifier_key() -> str | None:
    """The verifier key of the configured audit key file, if there is one (never created here)."""
    settings = load_settings()
    if not Path(settings.audit_key_file).exists():
        return None
    return load_or_create(settings.audit_key_file, settings.audit_origin).verifier_key


async def _copy(store: EventStore, args: argparse.Namespace) -> int:
    from app.adapters.eventstore.copy import CopyRefused, copy_log

    try:
        head = await copy_log(store, args.to_url)
    except CopyRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    target = await open_event_store(Settings(database_url=args.to_url))
    try:
        verdict = await verify(target)
    finally:
        await target.close()
    if not verdict.ok:
        print(f"copied up to {head}, but the copy fails verify at {verdict.bad_position}")
        return 1
    print(f"copied {head} events; the copy verifies (ok {verdict.count} events)")
    return 0
