"""``GET /v1/models``: the drop-in agents and upstream models the calling key may use."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, SkipValidation
from litestar.response import Response

from app.api.auth import principal_of
from app.api.wire import ModelCard, ModelList
from app.errors import NotFound
from app.ports.upstream import Upstream
from app.services.agents import AgentRegistry
from app.settings import Settings
from domain.policy import Principal, decide_agent, decide_model

log = logging.getLogger(__name__)

AnyRequest = Request[Any, Any, Any]
_GLOB_CHARS = frozenset("*?[")
CACHE_S = 60.0
LIST_TIMEOUT_S = 5.0


async def upstream_model_ids(
    upstream: Upstream | None, settings: Settings, state: State
) -> list[str]:
    """Upstream model ids: the upstream's own list (cached a minute) plus literal settings."""
    if upstream is None:
        return []
    ids = {g for g in settings.upstream_models if not _GLOB_CHARS & set(g)}
    cached = state.get("upstream_models_cache")
    if cached is not None and time.monotonic() - cached[0] < CACHE_S:
        return sorted(ids | cached[1])
    listed: set[str] = set()
    try:
        listed = set(await upstream.model_ids(LIST_TIMEOUT_S))
    except Exception as exc:  # an upstream without /models still serves its literal ids
        log.warning("listing upstream models failed: %s", type(exc).__name__)
    state["upstream_models_cache"] = (time.monotonic(), listed)
    return sorted(ids | listed)


@dataclass(frozen=True, slots=True)
class Catalog:
    """What ``/v1/models`` lists from: the served drop-ins, the upstream and the settings."""

    agents: AgentRegistry
    upstream: Upstream | None
    settings: Settings
    state: State

    async def visible(self, principal: Principal) -> list[ModelCard]:
        cards = [
            ModelCard(entry.name, 0, "ledgergate")
            for entry in self.agents.all()
            if decide_agent(principal, entry.name).allowed
        ]
        agent_names = {card.id for card in cards} | {e.name for e in self.agents.all()}
        for model in await upstream_model_ids(self.upstream, self.settings, self.state):
            if model in agent_names:  # an agent of the same name wins, as in chat completions
                continue
            allowed = self.upstream is not None and self.upstream.allows_model(model)
            if allowed and decide_model(principal, model).allowed:
                cards.append(ModelCard(model, 0, "upstream"))
        return cards


def provide_catalog(
    agents: NamedDependency[AgentRegistry],
    upstream: NamedDependency[SkipValidation[Upstream | None]],
    settings: NamedDependency[Settings],
    state: State,
) -> Catalog:
    return Catalog(agents, upstream, settings, state)


CATALOG = {"catalog": Provide(provide_catalog, sync_to_thread=False)}


@get(
    "/v1/models", summary="List the models this key may use", tags=["OpenAI"], dependencies=CATALOG
)
async def list_models(
    request: AnyRequest, catalog: NamedDependency[Catalog]
) -> Response[ModelList]:
    return Response(ModelList(await catalog.visible(principal_of(request))))


@get("/v1/models/{model:str}", summary="Retrieve one model", tags=["OpenAI"], dependencies=CATALOG)
async def retrieve_model(
    request: AnyRequest, catalog: NamedDependency[Catalog], model: FromPath[str]
) -> Response[ModelCard]:
    for card in await catalog.visible(principal_of(request)):
        if card.id == model:
            return Response(card)
    raise NotFound(
        f"The model '{model}' does not exist or you do not have access to it.", param="model"
    )


ROUTES = [list_models, retrieve_model]
