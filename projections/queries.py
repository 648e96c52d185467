"""Reading the read models: one consistent snapshot of their live generations, as plain rows.

The admin snapshot (``projections.snapshot``) and the Prometheus exposition are both built
from the same ``ReadModels``, so they cannot disagree about the same log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from projections.checkpoints import Checkpoint, read_checkpoints
from projections.db import total
from projections.schema import (
    rm_acl_stats,
    rm_discovery,
    rm_dropin_failures,
    rm_dropins,
    rm_log_types,
    rm_names,
    rm_request_latency,
    rm_request_stats,
    rm_requests,
    rm_tool_latency,
    rm_tool_stats,
)

MINUTES = 60

Rows = list[Any]  # SQLAlchemy Rows (tuples with named fields)


@dataclass(slots=True)
class ReadModels:
    """Aggregated rows of every live read model, read in one transaction."""

    checkpoints: list[Checkpoint]
    req_by_model: Rows = field(default_factory=list)  # model,target,status,count,sums…
    req_by_key: Rows = field(default_factory=list)  # key_id,status,count,prompt,completion
    req_minutes: Rows = field(default_factory=list)  # bucket,status,count,prompt,completion
    req_minute_latency: Rows = field(default_factory=list)  # bucket,le_index,count
    req_latency: Rows = field(default_factory=list)  # model,metric,le_index,count
    in_flight: int = 0
    tools: Rows = field(default_factory=list)  # rm_tool_stats rows
    tool_latency: Rows = field(default_factory=list)  # tool,agent,source,le_index,count
    discovery: Any = None
    dropins: Rows = field(default_factory=list)
    dropin_failures: Rows = field(default_factory=list)  # error_type,count
    acl_rules: Rows = field(default_factory=list)  # action,rule,decision,count
    acl_keys: Rows = field(default_factory=list)  # key_id,decision,count
    acl_resources: Rows = field(default_factory=list)  # action,resource,decision,count
    log_types: Rows = field(default_factory=list)  # type,count,last_position,last_recorded_at
    names: dict[str, list[str]] = field(default_factory=dict)  # kind → first-seen order

    @property
    def position(self) -> int:
        """How far the live read models have applied the log (their lowest checkpoint)."""
        return min((c.position for c in self.checkpoints if c.state == "live"), default=0)


def _live(checkpoints: list[Checkpoint]) -> dict[str, int]:
    return {c.name: c.generation for c in checkpoints if c.state == "live"}


async def load(engine: AsyncEngine, sections: frozenset[str] | None = None) -> ReadModels:
    """Read ``sections`` (projection names; all by default) in one snapshot."""
    async with engine.connect() as conn, conn.begin():
        checkpoints = await read_checkpoints(conn)
        gens = _live(checkpoints)
        out = ReadModels(checkpoints)
        want = sections if sections is not None else frozenset(gens)
        for name, loader in _LOADERS.items():
            if name in want and name in gens:
                await loader(conn, gens[name], out)
        out.names = await _names(conn, gens)
        return out


async def _all(conn: AsyncConnection, stmt: Any) -> Rows:
    return list((await conn.execute(stmt)).all())


async def _requests(conn: AsyncConnection, gen: int, out: ReadModels) -> None:
    s = rm_request_stats.c
    sums = (
        total(s.count),
        total(s.duration_us_sum),
        total(s.ttft_us_sum),
        total(s.ttft_count),
        total(s.prompt_tokens),
        total(s.completion_tokens),
    )
    tokens = (total(s.count), total(s.prompt_tokens), total(s.completion_tokens))
    mine = s.generation == gen
    out.req_by_model = await _all(
        conn,
        select(s.model, s.target, s.status, *sums)
        .where(mine)
        .group_by(s.model, s.target, s.status)
        .order_by(s.model, s.target, s.status),
    )
    out.req_by_key = await _all(
        conn,
        select(s.key_id, s.status, *tokens)
        .where(mine)
        .group_by(s.key_id, s.status)
        .order_by(s.key_id, s.status),
    )
    recent = select(s.bucket).where(mine).distinct().order_by(s.bucket.desc()).limit(MINUTES)
    first = (await conn.execute(select(func.min(recent.subquery().c.bucket)))).scalar()
    if first is not None:
        out.req_minutes = await _all(
            conn,
            select(s.bucket, s.status, *tokens)
            .where(mine, s.bucket >= first)
            .group_by(s.bucket, s.status)
            .order_by(s.bucket, s.status),
        )
        lat = rm_request_latency.c
        out.req_minute_latency = await _all(
            conn,
            select(lat.bucket, lat.le_index, total(lat.count))
            .where(lat.generation == gen, lat.metric == "duration", lat.bucket >= first)
            .group_by(lat.bucket, lat.le_index),
        )
    lat = rm_request_latency.c
    out.req_latency = await _all(
        conn,
        select(lat.model, lat.metric, lat.le_index, total(lat.count))
        .where(lat.generation == gen)
        .group_by(lat.model, lat.metric, lat.le_index)
        .order_by(lat.model, lat.metric, lat.le_index),
    )
    r = rm_requests.c
    count = select(func.count()).where(r.generation == gen, r.status == "in_flight")
    out.in_flight = int((await conn.execute(count)).scalar() or 0)


async def _tools(conn: AsyncConnection, gen: int, out: ReadModels) -> None:
    t = rm_tool_stats.c
    cols = [c for c in rm_tool_stats.c if c.name != "generation"]
    out.tools = await _all(
        conn, select(*cols).where(t.generation == gen).order_by(t.tool, t.agent, t.source)
    )
    lat = rm_tool_latency.c
    out.tool_latency = await _all(
        conn,
        select(lat.tool, lat.agent, lat.source, lat.le_index, lat.count)
        .where(lat.generation == gen)
        .order_by(lat.tool, lat.agent, lat.source, lat.le_index),
    )


async def _discovery(conn: AsyncConnection, gen: int, out: ReadModels) -> None:
    out.discovery = (
        await conn.execute(select(rm_discovery).where(rm_discovery.c.generation == gen))
    ).first()
    out.dropins = await _all(
        conn,
        select(rm_dropins).where(rm_dropins.c.generation == gen).order_by(rm_dropins.c.path),
    )
    f = rm_dropin_failures.c
    out.dropin_failures = await _all(
        conn, select(f.error_type, f.count).where(f.generation == gen).order_by(f.error_type)
    )


async def _acl(conn: AsyncConnection, gen: int, out: ReadModels) -> None:
    a = rm_acl_stats.c
    mine = a.generation == gen
    n = total(a.count)
    out.acl_rules = await _all(
        conn,
        select(a.action, a.rule, a.decision, n)
        .where(mine)
        .group_by(a.action, a.rule, a.decision)
        .order_by(a.action, a.rule, a.decision),
    )
    out.acl_keys = await _all(
        conn,
        select(a.key_id, a.decision, n)
        .where(mine)
        .group_by(a.key_id, a.decision)
        .order_by(a.key_id, a.decision),
    )
    out.acl_resources = await _all(
        conn,
        select(a.action, a.resource, a.decision, n)
        .where(mine)
        .group_by(a.action, a.resource, a.decision)
        .order_by(a.action, a.resource, a.decision),
    )


async def _log(conn: AsyncConnection, gen: int, out: ReadModels) -> None:
    t = rm_log_types.c
    out.log_types = await _all(
        conn,
        select(t.type, t.count, t.last_position, t.last_recorded_at)
        .where(t.generation == gen)
        .order_by(t.type),
    )


async def _names(conn: AsyncConnection, gens: dict[str, int]) -> dict[str, list[str]]:
    n = rm_names.c
    rows = await conn.execute(
        select(n.kind, n.name)
        .where(n.generation.in_(list(gens.values())))
        .order_by(n.kind, n.first_position, n.name)
    )
    names: dict[str, list[str]] = {}
    for kind, name in rows.all():
        names.setdefault(kind, []).append(name)
    return names


_LOADERS = {
    "requests": _requests,
    "tools": _tools,
    "discovery": _discovery,
    "acl": _acl,
    "log": _log,
}


async def recent_requests(
    engine: AsyncEngine,
    *,
    limit: int = 50,
    before: int | None = None,
    model: str | None = None,
    key_id: str | None = None,
    status: str | None = None,
) -> Rows:
    """Requests newest first (by the position of their ``request.received``), keyset-paged."""
    async with engine.connect() as conn, conn.begin():
        gens = _live(await read_checkpoints(conn))
        if "requests" not in gens:
            return []
        r = rm_requests.c
        stmt = select(rm_requests).where(r.generation == gens["requests"])
        if before is not None:
            stmt = stmt.where(r.first_position < before)
        if model is not None:
            stmt = stmt.where(r.model == model)
        if key_id is not None:
            stmt = stmt.where(r.key_id == key_id)
        if status is not None:
            stmt = stmt.where(r.status == status)
        stmt = stmt.order_by(r.first_position.desc()).limit(limit)
        return await _all(conn, stmt)
