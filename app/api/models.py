"""``GET /v1/models``: the drop-in agents and upstream models the calling key may use."""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Response

from app.api.auth import principal_of
from app.api.wire import ModelCard, ModelList
from app.errors import NotFound
from app.services.container import Services, services_of
from domain.policy import Principal, decide_agent, decide_model

log = logging.getLogger(__name__)

AnyRequest = Request[Any, Any, Any]
_GLOB_CHARS = frozenset("*?[")
CACHE_S = 60.0
LIST_TIMEOUT_S = 5.0


async def upstream_model_ids(services: Services, state: Any) -> list[str]:
    """Upstream model ids: the upstream's own list (cached a minute) plus literal settings."""
    if services.upstream is None:
        return []
    ids = {g for g in services.settings.upstream_models if not _GLOB_CHARS & set(g)}
    cached = state.get("upstream_models_cache")
    if cached is not None and time.monotonic() - cached[0] < CACHE_S:
        return sorted(ids | cached[1])
    listed: set[str] = set()
    try:
        listed = set(await services.upstream.model_ids(LIST_TIMEOUT_S))
    except Exception as exc:  # an upstream without /models still serves its literal ids
        log.warning("listing upstream models failed: %s", type(exc).__name__)
    state["upstream_models_cache"] = (time.monotonic(), listed)
    return sorted(ids | listed)


async def visible_models(request: AnyRequest, principal: Principal) -> list[ModelCard]:
    services = services_of(request)
    cards = [
        ModelCard(entry.name, 0, "ledgergate")
        for entry in services.agents.all()
        if decide_agent(principal, entry.name).allowed
    ]
    agent_names = {card.id for card in cards} | {e.name for e in services.agents.all()}
    for model in await upstream_model_ids(services, request.app.state):
        if model in agent_names:  # an agent of the same name wins, as in chat completions
            continue
        allowed = services.upstream is not None and services.upstream.allows_model(model)
        if allowed and decide_model(principal, model).allowed:
            cards.append(ModelCard(model, 0, "upstream"))
    return cards


@get("/v1/models", summary="List the models this key may use", tags=["OpenAI"])
async def list_models(request: AnyRequest) -> Response[ModelList]:
    principal = principal_of(request)
    return Response(ModelList(await visible_models(request, principal)))


@get("/v1/models/{model:str}", summary="Retrieve one model", tags=["OpenAI"])
async def retrieve_model(request: AnyRequest, model: FromPath[str]) -> Response[ModelCard]:
    principal = principal_of(request)
    for card in await visible_models(request, principal):
        if card.id == model:
            return Response(card)
    raise NotFound(
        f"The model '{model}' does not exist or you do not have access to it.", param="model"
    )


ROUTES = [list_models, retrieve_model]
