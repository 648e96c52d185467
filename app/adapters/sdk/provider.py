"""A per-request ``ModelProvider`` bound to the gateway's upstream port.

No SDK globals: each request builds its own provider, whose ``AsyncOpenAI`` client talks to
the upstream port through ``PortTransport``, so concurrent requests never see each other's
settings and every model call (a "hop") is recorded by ``upstream_calls.recorded_call``, the
same code that records passthrough and declarative hops.

Sanitising rule: when the upstream is not OpenAI's own API (its label does not start with
``https://api.openai.com``), settings only OpenAI accepts (``store``, ``reasoning``/
``reasoning_effort``, ``verbosity``, ``metadata``, prompt-cache and Responses-only options)
are dropped, since Agent Builder exports hard-code them and other upstreams reject them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
from agents.items import ModelResponse, TResponseStreamEvent
from agents.model_settings import ModelSettings
from agents.models.default_models import get_default_model
from agents.models.interface import Model, ModelProvider
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from openai import AsyncOpenAI

from app.adapters.sdk.port_transport import ModelCaller, PortTransport
from app.ports.recorder import Recorder
from app.ports.upstream import UpstreamCall
from app.services.upstream_calls import CallTally

OPENAI_LABEL_PREFIX = "https://api.openai.com"

_OPENAI_ONLY: dict[str, Any] = {
    "store": None,
    "reasoning": None,
    "verbosity": None,
    "metadata": None,
    "prompt_cache_retention": None,
    "prompt_cache_options": None,
    "response_include": None,
    "truncation": None,
    "context_management": None,
}


def is_openai_upstream(label: str) -> bool:
    return label.startswith(OPENAI_LABEL_PREFIX)


def sanitise(settings: ModelSettings, *, label: str, max_tokens: int | None) -> ModelSettings:
    """The settings actually sent: OpenAI-only ones dropped off OpenAI, usage always asked for."""
    changes: dict[str, Any] = {"include_usage": True}
    if not is_openai_upstream(label):
        changes.update(_OPENAI_ONLY)
    if max_tokens is not None:
        changes["max_tokens"] = max_tokens  # the client's cap wins over the agent's
    return dataclasses.replace(settings, **changes)


@dataclass
class RunTelemetry:
    """What one request's model calls share: where to record, the hop counter, token totals."""

    recorder: Recorder
    label: str
    max_tokens: int | None = None
    hops: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    models: list[str] = field(default_factory=list)

    def next_hop(self) -> int:
        self.hops += 1
        return self.hops

    def done(self, call: UpstreamCall, tally: CallTally) -> None:
        """A model call ended well: count its tokens toward the request's usage."""
        self.models.append(call.model)
        self.prompt_tokens += tally.prompt_tokens
        self.completion_tokens += tally.completion_tokens


class GatewayModel(OpenAIChatCompletionsModel):
    """``OpenAIChatCompletionsModel`` with the gateway's settings rules applied to each call."""

    def __init__(self, model: str, client: AsyncOpenAI, telemetry: RunTelemetry) -> None:
        super().__init__(model=model, openai_client=client)
        self.telemetry = telemetry

    def _settings(self, settings: ModelSettings) -> ModelSettings:
        t = self.telemetry
        return sanitise(settings, label=t.label, max_tokens=t.max_tokens)

    async def get_response(
        self,
        system_instructions: Any,
        input: Any,
        model_settings: ModelSettings,
        *args: Any,
        **kwargs: Any,
    ) -> ModelResponse:
        return await super().get_response(
            system_instructions, input, self._settings(model_settings), *args, **kwargs
        )

    async def stream_response(
        self,
        system_instructions: Any,
        input: Any,
        model_settings: ModelSettings,
        *args: Any,
        **kwargs: Any,
    ) -> AsyncIterator[TResponseStreamEvent]:
        events = super().stream_response(
            system_instructions, input, self._settings(model_settings), *args, **kwargs
        )
        async for event in events:
            yield event


# Never dialled: ``PortTransport`` answers every request in process.
_IN_PROCESS_URL = "http://upstream.invalid/v1"


class GatewayModelProvider(ModelProvider):
    """Resolves every model name of one request to a ``GatewayModel`` on the upstream port."""

    def __init__(self, caller: ModelCaller, telemetry: RunTelemetry) -> None:
        self.telemetry = telemetry
        transport = PortTransport(caller, telemetry.recorder, telemetry.next_hop, telemetry.done)
        self.client = AsyncOpenAI(
            api_key="ledgergate",
            base_url=_IN_PROCESS_URL,
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=transport, trust_env=False),
        )

    def get_model(self, model_name: str | None) -> Model:
        return GatewayModel(model_name or get_default_model(), self.client, self.telemetry)
