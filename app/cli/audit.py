"""``ledgergate audit key|checkpoint|bundle|verify-bundle``: signed checkpoints and bundles."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from app.adapters.audit_key import AuditKeyError, Signer, load_or_create
from app.settings import Settings, load_settings

T = TypeVar("T")


def register(sub: Any) -> None:  # argparse's subparsers action has no public type
    p = sub.add_parser("audit", help="signed checkpoints, audit bundles and their verification")
    actions = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    key = actions.add_parser("key", help="print the verifier key (C2SP signed-note form)")
    key.set_defaults(handler=run_key)

    checkpoint = actions.add_parser("checkpoint", help="sign a checkpoint of the log now")
    checkpoint.set_defaults(handler=run_checkpoint)

    bundle = actions.add_parser("bundle", help="print a request's audit bundle (JSON)")
    bundle.add_argument("request_id", metavar="REQUEST_ID", help="the completion's id")
    bundle.set_defaults(handler=run_bundle)

    for action in (key, checkpoint, bundle):
        action.add_argument("--database-url", default=None, metavar="URL")

    verify = actions.add_parser("verify-bundle", help="check a bundle offline with a verifier key")
    verify.add_argument("file", metavar="FILE", help="the bundle; '-' reads standard input")
    verify.add_argument("--key", required=True, metavar="VKEY", help="the verifier key")
    verify.set_defaults(handler=run_verify_bundle)


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    if getattr(args, "database_url", None):
        settings = msgspec.structs.replace(settings, database_url=args.database_url)
    return settings


def _signer(settings: Settings) -> Signer:
    return load_or_create(settings.audit_key_file, settings.audit_origin)


def _with_audit(settings: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    from app.adapters.eventstore import open_event_store
    from app.adapters.eventstore.migrate import sqlite_path, upgrade_head
    from app.services.audit import AuditService
    from projections.audit_tree import AuditTree
    from projections.db import create_read_model_engine

    signer = _signer(settings)
    if sqlite_path(settings.database_url) is not None:
        upgrade_head(settings.database_url)  # an older log gets the audit tables

    async def main() -> T:
        store = await open_event_store(settings)
        engine = create_read_model_engine(settings.database_url)
        try:
            return await action(AuditService(store, AuditTree(store, engine), signer, 0))
        finally:
            await engine.dispose()
            await store.close()

    return asyncio.run(main())


def _guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except AuditKeyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return handler


@_guarded
def run_key(args: argparse.Namespace) -> int:
    print(_signer(_settings(args)).verifier_key)
    return 0


@_guarded
def run_checkpoint(args: argparse.Namespace) -> int:
    async def sign(audit: Any) -> str:
        note: str = (await audit.sign()).note
        return note

    sys.stdout.write(_with_audit(_settings(args), sign))
    return 0


@_guarded
def run_bundle(args: argparse.Namespace) -> int:
    from app.adapters.eventstore.export import bundle_bytes

    async def build(audit: Any) -> bytes | None:
        found = await audit.bundle(args.request_id)
        if found is None:
            return None
        return bundle_bytes(found.checkpoint, found.events, msgspec.json.encode(found.proofs))

    body = _with_audit(_settings(args), build)
    if body is None:
        print(f"no request {args.request_id} in the log", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(body + b"\n")
    return 0


def run_verify_bundle(args: argparse.Namespace) -> int:
    from app.adapters.audit_verify import verify_bundle

    raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    verdict = verify_bundle(raw, args.key)
    if verdict.ok:
        print(
            f"ok: {verdict.count} events of {verdict.stream} are in the log "
            f"{verdict.origin} signed at tree size {verdict.tree_size}"
        )
        return 0
    for problem in verdict.problems:
        print(f"bad: {problem}")
    return 1
