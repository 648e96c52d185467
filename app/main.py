"""Composition root: builds adapters and services from settings and wires them into Litestar.

Nothing imports this module; it is the only place that knows every concrete class.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar

from app.adapters.declarative import load_declarative
from app.adapters.eventstore import open_event_store
from app.adapters.passthrough import UpstreamBackend
from app.adapters.toolmodules import load_tool_modules
from app.adapters.upstream import Upstream, build_upstream
from app.api import admin_keys, health
from app.api import chat as chat_api
from app.api import models as models_api
from app.api.auth import key_freshness_middleware
from app.api.errors import EXCEPTION_HANDLERS
from app.services.agents import AgentRegistry, DropinError
from app.services.chat import ChatService
from app.services.container import Services
from app.services.interrupted import mark_interrupted
from app.services.keys import KeyService
from app.services.tools import ToolManager
from app.settings import Settings, load_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> Litestar:
    services: Services | None = None

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        nonlocal services
        store = await open_event_store(settings)
        keys = KeyService(settings.master_key)
        await keys.load(store)  # the key registry, rebuilt from the log
        tools = ToolManager.from_settings(settings)
        # Tool modules load before agents: drop-ins resolve use_gateway_tool() at import time.
        loaded_tools, tools.failed_modules = load_tool_modules(settings.tools_dirs)
        tools.replace(loaded_tools)
        await mark_interrupted(store)  # requests a crash cut off get their terminal event
        upstream = build_upstream(settings)
        agents = AgentRegistry()
        _load_declarative_agents(settings, agents, upstream, tools)  # TEMPORARY, see below
        chat = ChatService(
            store=store,
            agents=agents,
            upstream_backend=UpstreamBackend(upstream),
            allows_model=upstream.allows_model,
            tool_manager=tools,
        )
        services = Services(
            settings=settings,
            store=store,
            keys=keys,
            tools=tools,
            upstream=upstream,
            agents=agents,
            chat=chat,
        )
        app.state.services = services
        try:
            yield
        finally:
            await chat.drain()
            await upstream.close()
            tools.close()
            await store.close()

    return Litestar(
        route_handlers=[*health.ROUTES, *admin_keys.ROUTES, *chat_api.ROUTES, *models_api.ROUTES],
        middleware=[key_freshness_middleware],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        debug=False,
    )


def _load_declarative_agents(
    settings: Settings, agents: AgentRegistry, upstream: Upstream, tools: ToolManager
) -> None:
    """TEMPORARY start-up load of ``<root>/*/agent.toml``, until discovery replaces it.

    Discovery owns scanning (events, failed drop-ins, reloads); this only makes the sample
    declarative agent servable. A bad file is skipped here, never fatal.
    """
    for root in settings.agents_dirs:
        for path in sorted(Path(root).glob("*/agent.toml")):
            try:
                agents.put(
                    load_declarative(
                        path, path.parent.name, upstream=upstream, tools=tools, settings=settings
                    )
                )
            except DropinError as exc:
                log.warning("skipping %s: %s", path, exc.message)


def create_app_from_env() -> Litestar:
    """uvicorn's factory entry point: settings from the environment."""
    return create_app(load_settings())
