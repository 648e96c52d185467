"""Routes behind the console: who is signed in, traffic per minute, and the chain's status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from app.api.admin import MinPosition
from app.api.auth import ADMIN, READERS, principal_of
from app.errors import GatewayError
from app.services.chain import ChainStatus, ChainVerifier
from app.services.projections import ProjectionService
from projections import series
from projections.series import Series


class Whoami(msgspec.Struct, kw_only=True):
    """``GET /admin/whoami``: the caller's key, so the console shows what that key may see."""

    key_id: str
    name: str
    admin: bool
    auditor: bool


@get("/admin/whoami", guards=READERS)
async def admin_whoami(request: Request[Any, Any, Any]) -> Whoami:
    principal = principal_of(request)
    return Whoami(
        key_id=principal.key_id,
        name=principal.name,
        admin=principal.admin,
        auditor=principal.auditor,
    )


@get("/admin/series", guards=ADMIN)
async def admin_series(
    projections: NamedDependency[ProjectionService],
    minutes: Annotated[int, QueryParameter(ge=1, le=1440)] = 60,
    min_position: MinPosition = None,
) -> Series:
    """Requests, errors, tokens and latency per UTC minute, the last ``minutes`` up to now."""
    await projections.settle(min_position)
    return await series.minutes(projections.engine, datetime.now(UTC), minutes)


@get("/admin/chain", guards=READERS)
async def admin_chain(
    chain: NamedDependency[ChainVerifier | None], fresh: FromQuery[bool] = False
) -> ChainStatus:
    """The last verdict of ``events verify`` run inside the gateway (cached, one at a time).

    ``fresh=true`` starts a new check and waits for it (at most 10 s; ``checking`` says if it
    is still running).
    """
    if chain is None:
        raise GatewayError(
            "Chain verification is not available.", code="chain_unavailable", status=503
        )
    return await chain.status(fresh=fresh)


ROUTES = [admin_whoami, admin_series, admin_chain]
