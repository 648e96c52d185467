"""``/audit/*``: the verifier key (anyone), checkpoints, proofs and bundles (admin or auditor)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter, SkipValidation
from litestar.response import Response

from app.api.auth import READERS
from app.errors import NotFound
from app.ports.log_export import LogExport
from app.services.audit import AuditService, ConsistencyProof, InclusionProof

AnyRequest = Request[Any, Any, Any]
Size = Annotated[int, QueryParameter(ge=1)]
TEXT = "text/plain; charset=utf-8"


@get("/audit/key", media_type=TEXT)
async def audit_key(audit: NamedDependency[AuditService]) -> str:
    return audit.verifier_key + "\n"


@get("/audit/checkpoint", media_type=TEXT, guards=READERS)
async def checkpoint(audit: NamedDependency[AuditService]) -> str:
    return (await audit.latest()).note


@get("/audit/proof/inclusion", guards=READERS)
async def inclusion(
    audit: NamedDependency[AuditService], position: Size, tree_size: Size
) -> InclusionProof:
    return await audit.inclusion(position, tree_size)


@get("/audit/proof/consistency", guards=READERS)
async def consistency(
    audit: NamedDependency[AuditService], first: Size, second: Size
) -> ConsistencyProof:
    return await audit.consistency(first, second)


@get("/audit/requests/{request_id:str}/bundle", guards=READERS)
async def bundle(
    audit: NamedDependency[AuditService],
    export: NamedDependency[SkipValidation[LogExport]],
    request_id: FromPath[str],
) -> Response[bytes]:
    found = await audit.bundle(request_id)
    if found is None:
        raise NotFound(f"No request '{request_id}' in the log.", code="request_not_found")
    body = export.bundle(found.checkpoint, found.events, msgspec.json.encode(found.proofs))
    return Response(body, media_type="application/json")


ROUTES = [audit_key, checkpoint, inclusion, consistency, bundle]
