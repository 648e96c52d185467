"""``ledgergate serve``: migrate an embedded SQLite log, then run the API under uvicorn."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from app.settings import Settings, load_settings


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the gateway")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--log-level", default="info")
    p.set_defaults(handler=run)


async def _end_unfinished_requests(settings: Settings) -> list[str]:
    """Once per start, before any worker: requests a crash cut off get ``request.interrupted``."""
    from app.adapters.eventstore import open_event_store
    from app.services.interrupted import mark_interrupted

    store = await open_event_store(settings)
    try:
        return await mark_interrupted(store)
    finally:
        await store.close()


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from app.adapters.eventstore.migrate import upgrade_head

    settings = load_settings()
    upgrade_head(settings.database_url)
    interrupted = asyncio.run(_end_unfinished_requests(settings))
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
