"""``ledgergate keys create|list|revoke``: manage API keys on the log (the secret is shown once)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from app.services.keys import KeyInfo, KeyService
from app.settings import Settings, load_settings

T = TypeVar("T")


def register(sub: Any) -> None:  # argparse's subparsers action has no public type
    p = sub.add_parser("keys", help="issue, list and revoke API keys")
    keys = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    create = keys.add_parser("create", help="issue a key (printed once; only its hash is kept)")
    create.add_argument("--name", required=True, help="a name for the key's holder")
    create.add_argument("--agents", default="", help="comma-separated globs of agents")
    create.add_argument("--tools", default="", help="comma-separated globs of gateway tools")
    create.add_argument("--models", default="", help="comma-separated globs of upstream models")
    create.add_argument("--admin", action="store_true", help="every right, admin routes too")
    create.add_argument(
        "--auditor",
        action="store_true",
        help="read the log, requests, replays and /audit/*; nothing else",
    )
    _common(create)
    create.set_defaults(handler=run_create)

    listing = keys.add_parser("list", help="list issued keys (never their secrets)")
    _common(listing)
    listing.set_defaults(handler=run_list)

    revoke = keys.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", metavar="ID", help="the key's id (see keys list)")
    _common(revoke)
    revoke.set_defaults(handler=run_revoke)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", default=None, help="the event log's database URL")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def globs(text: str) -> list[str]:
    """``"a*, b"`` -> ``["a*", "b"]``; empty means none (deny by default)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    if args.database_url:
        settings = msgspec.structs.replace(settings, database_url=args.database_url)
    return settings


def _with_keys(args: argparse.Namespace, action: Callable[[KeyService], Awaitable[T]]) -> T:
    from app.adapters.eventstore import open_event_store

    async def main() -> T:
        store = await open_event_store(_settings(args))
        try:
            keys = KeyService()
            await keys.load(store)
            return await action(keys)
        finally:
            await store.close()

    return asyncio.run(main())


def _show(info: KeyInfo) -> str:
    state = "revoked" if info.revoked else ("admin" if info.admin else "active")
    if info.auditor and not info.revoked:
        state = "auditor"
    rights = (
        "all"
        if info.admin
        else "read the log and /audit/*"
        if info.auditor
        else (
            f"agents=[{','.join(info.agents)}] tools=[{','.join(info.tools)}] "
            f"models=[{','.join(info.models)}]"
        )
    )
    return f"{info.id}  {info.name}  {state}  {rights}  created {info.created_at}"


def run_create(args: argparse.Namespace) -> int:
    async def create(keys: KeyService) -> tuple[str, KeyInfo]:
        return await keys.issue(
            args.name,
            globs(args.agents),
            globs(args.tools),
            globs(args.models),
            args.admin,
            auditor=args.auditor,
        )

    try:
        secret, info = _with_keys(args, create)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(msgspec.json.encode({**msgspec.to_builtins(info), "key": secret}).decode())
    else:
        print(f"id:  {info.id}")
        print(f"key: {secret}")
        print("Store the key now: it is not shown again (the log keeps only its hash).")
    return 0


def run_list(args: argparse.Namespace) -> int:
    async def listing(keys: KeyService) -> list[KeyInfo]:
        return keys.list()

    infos = _with_keys(args, listing)
    if args.json:
        print(msgspec.json.encode([msgspec.to_builtins(i) for i in infos]).decode())
    else:
        for info in infos:
            print(_show(info))
        if not infos:
            print("no keys issued", file=sys.stderr)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    async def revoke(keys: KeyService) -> tuple[bool, KeyInfo | None]:
        return await keys.revoke(args.key_id), keys.get(args.key_id)

    done, info = _with_keys(args, revoke)
    if info is None:
        print(f"no key with id {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked {info.id}" if done else f"{info.id} was already revoked")
    return 0
