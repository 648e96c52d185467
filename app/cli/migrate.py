"""``ledgergate migrate``: ``alembic upgrade head`` for the configured (or given) database."""

from __future__ import annotations

import argparse
from typing import Any

from app.settings import load_settings


def register(sub: Any) -> None:  # argparse's subparsers action has no public type
    p = sub.add_parser("migrate", help="create or upgrade the database's tables (alembic)")
    p.add_argument("--database-url", default=None, metavar="URL")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from alembic import command
    from sqlalchemy.engine import make_url

    from app.adapters.eventstore.migrate import alembic_config, upgrade_head

    url = args.database_url or load_settings().database_url
    upgrade_head(url)
    command.current(alembic_config(url))
    print(f"migrated {make_url(url).render_as_string(hide_password=True)} to head")
    return 0
