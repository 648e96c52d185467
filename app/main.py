"""Composition root: builds adapters and services from settings and wires them into Litestar.

Nothing imports this module; it is the only place that knows every concrete class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from app.adapters.eventstore import open_event_store
from app.api import health
from app.services.container import Services
from app.settings import Settings, load_settings


def create_app(settings: Settings) -> Litestar:
    services: Services | None = None

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        nonlocal services
        store = await open_event_store(settings)
        services = Services(settings=settings, store=store)
        app.state.services = services
        try:
            yield
        finally:
            await store.close()

    return Litestar(
        route_handlers=[*health.ROUTES],
        lifespan=[lifespan],
        debug=False,
    )


def create_app_from_env() -> Litestar:
    """uvicorn's factory entry point: settings from the environment."""
    return create_app(load_settings())
