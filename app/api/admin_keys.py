"""Admin routes for API keys: issue (the secret is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from app.api.auth import ADMIN
from app.errors import BadRequest, NotFound
from app.services.keys import KeyInfo, KeyService

Glob = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CreateKey(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    agents: list[Glob] = []
    tools: list[Glob] = []
    models: list[Glob] = []
    admin: bool = False
    auditor: bool = False


def key_json(info: KeyInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"object": "api_key", **msgspec.to_builtins(info)}
    return out


@post("/admin/keys", status_code=200, guards=ADMIN)
async def create_key(
    request: Request[Any, Any, Any], keys: NamedDependency[KeyService]
) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(await request.body(), type=CreateKey)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"Invalid key request: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from exc
    try:
        secret, info = await keys.issue(
            body.name, body.agents, body.tools, body.models, body.admin, auditor=body.auditor
        )
    except ValueError as exc:
        raise BadRequest(f"Invalid key request: {exc}.", param="auditor") from exc
    return {**key_json(info), "key": secret}


@get("/admin/keys", guards=ADMIN)
async def list_keys(keys: NamedDependency[KeyService]) -> dict[str, Any]:
    await keys.refresh()  # an admin listing shows what the CLI did a moment ago too
    return {"object": "list", "data": [key_json(info) for info in keys.list()]}


@delete("/admin/keys/{key_id:str}", status_code=200, guards=ADMIN)
async def revoke_key(keys: NamedDependency[KeyService], key_id: FromPath[str]) -> dict[str, Any]:
    await keys.revoke(key_id)
    info = keys.get(key_id)
    if info is None:
        raise NotFound(f"No key with id '{key_id}'.", code="key_not_found")
    return {**key_json(info), "deleted": True}


ROUTES = [create_key, list_keys, revoke_key]
