"""PostgreSQL for tests: one fresh, uniquely named database per test, dropped afterwards.

Tests that need the server take the ``pg_url`` fixture. It is skipped, with the reason printed
in pytest's summary, unless ``LEDGERGATE_TEST_POSTGRES_URL`` names a server (``.ci/run`` sets
it and fails when the server is unreachable, so CI never skips these in silence).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy.engine import make_url

ENV = "LEDGERGATE_TEST_POSTGRES_URL"


def server_url() -> str | None:
    import os

    return os.environ.get(ENV) or None


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new empty database on ``server``; yields its SQLAlchemy URL (psycopg 3 driver)."""
    name = f"lgtest_{uuid.uuid4().hex[:16]}"
    base = make_url(server)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = base.set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    server = server_url()
    if server is None:
        pytest.skip(
            f"PostgreSQL tests need {ENV} (e.g. postgresql://postgres@127.0.0.1:5432/postgres)"
        )
    with fresh_database(server) as url:
        yield url
