"""Composition root: builds adapters and services from settings and wires them into Litestar.

Nothing imports this module; it is the only place that knows every concrete class.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from litestar import Litestar

from app.adapters.audit_key import load_or_create

# The Agents SDK is imported by discovery only when a drop-in or tool module needs it.
from app.adapters.discovery.scanner import Discovery
from app.adapters.discovery.watcher import log_failed, start_watcher
from app.adapters.eventstore import open_event_store
from app.adapters.eventstore.export import JsonLinesExport, verify
from app.adapters.leases import NodeLeases
from app.adapters.signals import on_exit_signal
from app.adapters.upstream import build_upstream
from app.api import admin as admin_api
from app.api import (
    admin_discovery,
    admin_keys,
    admin_overview,
    admin_stream,
    console,
    health,
    openapi,
)
from app.api import audit as audit_api
from app.api import chat as chat_api
from app.api import models as models_api
from app.api import prometheus as prometheus_api
from app.api import responses as responses_api
from app.api.access import AccessLogMiddleware
from app.api.auth import key_freshness_middleware
from app.api.cors import CorsMiddleware
from app.api.deps import dependencies
from app.api.exception_handlers import EXCEPTION_HANDLERS
from app.heap import freeze_startup_heap
from app.ports.discovery import ScanReport
from app.services.agents import AgentRegistry
from app.services.audit import AuditService
from app.services.chain import ChainVerifier
from app.services.chat import ChatService
from app.services.container import Services
from app.services.interrupted import OpenRequests, mark_interrupted, sweep
from app.services.keys import KeyService
from app.services.passthrough import UpstreamBackend
from app.services.projections import ProjectionService
from app.services.responses import ResponsesService
from app.services.tools import ToolManager
from app.settings import Settings, load_settings
from projections.audit_tree import AuditTree

log = logging.getLogger(__name__)

# The HTTP clients log one INFO line per upstream request: noise, and CPU on the hot path.
for _name in ("httpx", "httpx2"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def create_app(settings: Settings, *, recover_unfinished: bool = True) -> Litestar:
    """The gateway. ``recover_unfinished``: end requests a crash cut off, at start-up.

    Each process holds a node lease; only requests of nodes whose lease has expired are ended,
    at start-up (unless ``recover_unfinished`` is False: ``ledgergate serve`` does it once
    before its workers start) and then every half lease, so a node that dies is noticed.
    """
    services: Services | None = None

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        nonlocal services
        store = await open_event_store(settings)
        leases = NodeLeases(settings.database_url, settings.node_lease_s)
        await leases.start()
        keys = KeyService(settings.master_key)
        await keys.load(store)  # the key registry, rebuilt from the log
        tools = ToolManager.from_settings(settings)
        # Requests a crash cut off get their terminal event; those of live nodes are left alone.
        # The start-up pass ends before the gateway serves, so nothing reads a request that a
        # dead node left open as if it were still running.
        open_requests = OpenRequests()
        if recover_unfinished:
            await mark_interrupted(
                store, await leases.live(), "unfinished_at_startup", open_requests
            )
        sweeper = asyncio.get_running_loop().create_task(
            sweep(store, leases.live, settings.node_lease_s / 2, open_requests)
        )
        projections = await ProjectionService.open(settings, store, run=settings.run_projections)
        signer = load_or_create(settings.audit_key_file, settings.audit_origin)
        audit = AuditService(
            store, AuditTree(store, projections.engine), signer, settings.audit_checkpoint_s
        )
        audit.start(follow=settings.run_projections)
        upstream = build_upstream(settings)
        agents = AgentRegistry()
        discovery = Discovery(
            settings=settings, store=store, registry=agents, upstream=upstream, tools=tools
        )
        # Tool modules load first within a scan: drop-ins call use_gateway_tool() at import.
        report = await discovery.scan("startup")
        _log_startup(settings, upstream.label if not upstream.scripted else None, agents, report)
        watcher = start_watcher(discovery)
        chat = ChatService(
            store=store,
            agents=agents,
            upstream_backend=UpstreamBackend(upstream, settings.upstream_api),
            allows_model=upstream.allows_model,
            tool_manager=tools,
            node=leases.node_id,
            settings=settings,
        )
        chain = ChainVerifier(store, partial(verify, page=2000, offload=True))
        closing = asyncio.Event()
        services = Services(
            settings=settings,
            store=store,
            keys=keys,
            tools=tools,
            upstream=upstream,
            agents=agents,
            chat=chat,
            responses=ResponsesService(store=store, chat=chat),
            discovery=discovery,
            projections=projections,
            chain=chain,
            audit=audit,
            export=JsonLinesExport(),
            closing=closing,
        )
        app.state.services = services
        loop = asyncio.get_running_loop()

        # Live tails end on a stop signal; otherwise uvicorn would wait for them forever.
        def stopping() -> None:  # runs in the signal handler: hand over to the loop
            loop.call_soon_threadsafe(closing.set)

        undo_signals = on_exit_signal(stopping)
        freeze_startup_heap()  # full collections skip what start-up made (app/heap.py)
        try:
            yield
        finally:
            closing.set()
            undo_signals()
            if watcher is not None:
                watcher.cancel()
            await chat.drain()
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await leases.stop()  # after drain: this node's requests have all ended
            await chain.close()
            await discovery.close()
            await upstream.close()
            tools.close()
            await audit.close()
            await projections.close()
            await store.close()

    def current() -> Services:
        assert services is not None, "no request is served before the lifespan built Services"
        return services

    app = Litestar(
        route_handlers=[
            *health.ROUTES,
            *admin_keys.ROUTES,
            *chat_api.ROUTES,
            *responses_api.ROUTES,
            *models_api.ROUTES,
            *admin_discovery.ROUTES,
            *admin_api.ROUTES,
            *prometheus_api.ROUTES,
            *admin_stream.ROUTES,
            *admin_overview.ROUTES,
            *audit_api.ROUTES,
            *console.ROUTES,
        ],
        middleware=[key_freshness_middleware],
        dependencies=dependencies(current),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        openapi_config=openapi.openapi_config(),
        debug=False,
    )
    openapi.document_errors(app.openapi_schema)
    if settings.cors_origins:
        # Outside routing, so a preflight is answered before routing and key checks.
        app.asgi_handler = CorsMiddleware(app.asgi_handler, settings.cors_origins)  # type: ignore[assignment]
    app.asgi_handler = AccessLogMiddleware(app.asgi_handler)  # type: ignore[assignment]
    return app


def _log_startup(
    settings: Settings, upstream: str | None, agents: AgentRegistry, report: ScanReport
) -> None:
    names = ", ".join(entry.name for entry in agents.all()) or "none"
    log.info("serving %d drop-in agent(s): %s", len(agents.all()), names)
    log_failed(report, log)
    if upstream is None:
        log.info("upstream: the offline scripted upstream (no upstream API key is set)")
    else:
        log.info("upstream: %s (models: %s)", upstream, ",".join(settings.upstream_models))


def _configure_logging() -> None:
    """Our INFO lines beside uvicorn's, in its format (uvicorn configures only its own loggers)."""
    logger = logging.getLogger("app")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def create_app_from_env() -> Litestar:
    """uvicorn's factory entry point: settings from the environment."""
    _configure_logging()
    return create_app(load_settings(), recover_unfinished=False)
