"""``ledgergate serve``: migrate an embedded SQLite log, then run the API under uvicorn."""

from __future__ import annotations

import argparse
from typing import Any

from app.settings import load_settings


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the gateway")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--log-level", default="info")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from app.adapters.eventstore.migrate import upgrade_head

    settings = load_settings()
    upgrade_head(settings.database_url)
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
