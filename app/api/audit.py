"""``/audit/*``: the verifier key (anyone), checkpoints, proofs and bundles (admin or auditor)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.params import FromPath, QueryParameter
from litestar.response import Response

from app.adapters.eventstore.export import bundle_bytes
from app.api.auth import READERS
from app.errors import GatewayError, NotFound
from app.services.audit import AuditService, ConsistencyProof, InclusionProof
from app.services.container import services_of

AnyRequest = Request[Any, Any, Any]
Size = Annotated[int, QueryParameter(ge=1)]
TEXT = "text/plain; charset=utf-8"


def audit_service(request: AnyRequest) -> AuditService:
    service = services_of(request).audit
    if service is None:
        raise GatewayError("Audit is not available.", code="audit_unavailable", status=503)
    return service


@get("/audit/key", media_type=TEXT)
async def audit_key(request: AnyRequest) -> str:
    return audit_service(request).verifier_key + "\n"


@get("/audit/checkpoint", media_type=TEXT, guards=READERS)
async def checkpoint(request: AnyRequest) -> str:
    return (await audit_service(request).latest()).note


@get("/audit/proof/inclusion", guards=READERS)
async def inclusion(request: AnyRequest, position: Size, tree_size: Size) -> InclusionProof:
    return await audit_service(request).inclusion(position, tree_size)


@get("/audit/proof/consistency", guards=READERS)
async def consistency(request: AnyRequest, first: Size, second: Size) -> ConsistencyProof:
    return await audit_service(request).consistency(first, second)


@get("/audit/requests/{request_id:str}/bundle", guards=READERS)
async def bundle(request: AnyRequest, request_id: FromPath[str]) -> Response[bytes]:
    found = await audit_service(request).bundle(request_id)
    if found is None:
        raise NotFound(f"No request '{request_id}' in the log.", code="request_not_found")
    body = bundle_bytes(found.checkpoint, found.events, msgspec.json.encode(found.proofs))
    return Response(body, media_type="application/json")


ROUTES = [audit_key, checkpoint, inclusion, consistency, bundle]
