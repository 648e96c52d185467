"""Admin read API over the read models and the log (admin key only); see docs/metrics.md.

Every route takes an optional ``min_position``: the read waits (at most 5 s) until the read
models have applied the log up to it, so a client can read its own writes without sleeping.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter, SkipValidation

from app.api.auth import ADMIN, READERS
from app.errors import NotFound
from app.services.event_pages import iter_events
from app.services.projections import ProjectionService
from app.services.replay import ReplayedRequest, replay
from domain.ports import EventStore
from projections import queries, snapshot
from projections.views import DropinsReport, MetricsSnapshot, RequestsPage, ToolsReport

AnyRequest = Request[Any, Any, Any]
MAX_POSITION = 2**63 - 1  # SQLite's largest integer: a bigger one is a 400, not an overflow
MinPosition = Annotated[
    int | None,
    QueryParameter(ge=0, le=MAX_POSITION, description="wait until applied (≤ 5 s)"),
]
Text = FromQuery[str | None]


class ExportedEvent(msgspec.Struct):
    """One event in the contract's export shape (as ``ledgergate events export``)."""

    position: int
    event_id: str
    stream: str
    version: int
    type: str
    schema_version: int
    recorded_at: str
    data: dict[str, Any]
    meta: dict[str, Any]
    prev_hash: str
    hash: str


class EventsPage(msgspec.Struct):
    events: list[ExportedEvent]
    next_after: int | None  # pass as ``after`` for the next page; None at the end


@get("/admin/metrics", guards=ADMIN)
async def admin_metrics(
    projections: NamedDependency[ProjectionService], min_position: MinPosition = None
) -> MetricsSnapshot:
    await projections.settle(min_position)
    return await projections.snapshot()


@get("/admin/tools", guards=ADMIN)
async def admin_tools(
    projections: NamedDependency[ProjectionService],
    tool: Text = None,
    agent: Text = None,
    source: Text = None,
    min_position: MinPosition = None,
) -> ToolsReport:
    await projections.settle(min_position)
    return snapshot.tools_report(await projections.read(frozenset({"tools"})), tool, agent, source)


@get("/admin/dropins", guards=ADMIN)
async def admin_dropins(
    projections: NamedDependency[ProjectionService],
    dropin_state: Annotated[str | None, QueryParameter(name="state")] = None,
    min_position: MinPosition = None,
) -> DropinsReport:
    await projections.settle(min_position)
    return snapshot.dropins_report(await projections.read(frozenset({"discovery"})), dropin_state)


@get("/admin/requests", guards=READERS)
async def admin_requests(
    projections: NamedDependency[ProjectionService],
    *,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    before: Annotated[int | None, QueryParameter(ge=1, le=MAX_POSITION)] = None,
    model: Text = None,
    key_id: Text = None,
    status: Text = None,
    min_position: MinPosition = None,
) -> RequestsPage:
    await projections.settle(min_position)
    rows = await queries.recent_requests(
        projections.engine, limit=limit, before=before, model=model, key_id=key_id, status=status
    )
    items = [snapshot.request_summary(r) for r in rows]
    next_before = items[-1].position if len(items) == limit else None
    return RequestsPage(requests=items, next_before=next_before)


@get("/admin/requests/{request_id:str}", guards=READERS)
async def admin_request(
    store: NamedDependency[SkipValidation[EventStore]], request_id: FromPath[str]
) -> ReplayedRequest:
    replayed = await replay(store, request_id)
    if replayed is None:
        raise NotFound(f"No request '{request_id}' in the log.", code="request_not_found")
    return replayed


@get("/admin/events", guards=READERS)
async def admin_events(
    store: NamedDependency[SkipValidation[EventStore]],
    after: Annotated[int, QueryParameter(ge=0, le=MAX_POSITION)] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    stream: Text = None,
    event_type: Annotated[str | None, QueryParameter(name="type")] = None,
) -> EventsPage:
    types = [t for t in event_type.split(",") if t] if event_type else None
    out: list[ExportedEvent] = []
    async for rec in iter_events(store, after, stream, types, page=min(limit, 1000)):
        out.append(
            ExportedEvent(
                rec.position,
                rec.event_id,
                rec.stream,
                rec.version,
                rec.type,
                rec.schema_version,
                rec.recorded_at,
                msgspec.json.decode(rec.data),
                msgspec.json.decode(rec.meta),
                rec.prev_hash,
                rec.hash,
            )
        )
        if len(out) == limit:
            break
    return EventsPage(out, out[-1].position if len(out) == limit else None)


ROUTES = [admin_metrics, admin_tools, admin_dropins, admin_requests, admin_request, admin_events]
