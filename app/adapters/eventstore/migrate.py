"""Run the alembic migrations programmatically (``ledgergate serve``, tests, an empty database).

alembic (with mako, ~9 MB) is imported only by the functions that migrate: the URL helpers here
serve every process, and ``serve`` migrates in a child process so the gateway never loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    """An alembic ``Config`` for ``database_url`` that does not depend on the working directory."""
    from alembic.config import Config

    import migrations

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


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def sync_url(database_url: str) -> str:
    """The URL with a synchronous driver: ``sqlite`` or ``postgresql+psycopg`` (psycopg 3)."""
    url = make_url(database_url)
    name = url.get_backend_name()
    driver = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}.get(name, url.drivername)
    return url.set(drivername=driver).render_as_string(hide_password=False)


def async_url(database_url: str) -> str:
    """The URL with an asyncio driver: ``sqlite+aiosqlite`` or ``postgresql+psycopg``."""
    url = make_url(database_url)
    name = url.get_backend_name()
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}.get(
        name, url.drivername
    )
    return url.set(drivername=driver).render_as_string(hide_password=False)


def conninfo(database_url: str) -> str:
    """A libpq connection string for a PostgreSQL URL (whatever driver the URL names)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def upgrade_head(database_url: str) -> None:
    """Create or upgrade every table (creating a SQLite file's parent directory first)."""
    path = sqlite_path(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


def downgrade_base(database_url: str) -> None:
    """Drop every table the migrations created."""
    from alembic import command

    command.downgrade(alembic_config(database_url), "base")
