"""``ledgergate scan``: one discovery scan of the configured roots; exit 1 if any drop-in failed."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import msgspec

from app.settings import Settings, load_settings


def register(sub: Any) -> None:  # argparse's subparsers action has no public type
    p = sub.add_parser("scan", help="scan the drop-in roots once; list loaded and failed drop-ins")
    p.add_argument("--database-url", default=None, help="the event log's database URL")
    p.add_argument("--json", action="store_true", help="print the scan report as JSON")
    p.set_defaults(handler=run)


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    if args.database_url:
        settings = msgspec.structs.replace(settings, database_url=args.database_url)
    return settings


async def _scan(settings: Settings) -> Any:
    # Imported here: the scanner pulls in the Agents SDK, which other commands do not need.
    from app.adapters.discovery.scanner import Discovery
    from app.adapters.eventstore import open_event_store
    from app.adapters.upstream import build_upstream
    from app.services.agents import AgentRegistry
    from app.services.tools import ToolManager

    store = await open_event_store(settings)
    upstream = build_upstream(settings)
    tools = ToolManager.from_settings(settings)
    try:
        discovery = Discovery(
            settings=settings, store=store, registry=AgentRegistry(), upstream=upstream, tools=tools
        )
        try:
            return await discovery.scan("cli")
        finally:
            await discovery.close()
    finally:
        tools.close()
        await upstream.close()
        await store.close()


def run(args: argparse.Namespace) -> int:
    report = asyncio.run(_scan(_settings(args)))
    if args.json:
        out = {
            "scan_id": report.scan_id,
            "loaded": report.loaded,
            "failed": report.failed,
            "unloaded": report.unloaded,
        }
        sys.stdout.write(msgspec.json.encode(out).decode() + "\n")
        return 1 if report.failed else 0
    for e in report.loaded:
        tools = f" tools={','.join(e.tools)}" if e.tools else ""
        print(f"loaded  {e.name:<24} {e.kind:<14} {e.entrypoint:<20} {e.path}{tools}")
    for f in report.failed:
        print(f"FAILED  {f.name:<24} {f.kind:<14} {f.error_type:<20} {f.path}")
        print(f"        {f.message}")
        print(f"        fix: {f.remediation}")
    print(f"{len(report.loaded)} loaded, {len(report.failed)} failed")
    return 1 if report.failed else 0
