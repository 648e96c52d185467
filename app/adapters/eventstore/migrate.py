"""Run the alembic migrations programmatically (``ledgergate serve``, tests, an empty database)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

import migrations


def alembic_config(database_url: str) -> Config:
    """An alembic ``Config`` for ``database_url`` that does not depend on the working directory."""
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.attributes["database_url"] = database_url
    return config


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL (``None`` for other databases and ``:memory:``)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def upgrade_head(database_url: str) -> None:
    """Create or upgrade every table (creating a SQLite file's parent directory first)."""
    path = sqlite_path(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), "head")


def downgrade_base(database_url: str) -> None:
    """Drop every table the migrations created."""
    command.downgrade(alembic_config(database_url), "base")
