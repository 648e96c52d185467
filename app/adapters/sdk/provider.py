"""A per-request ``ModelProvider`` bound to the gateway's upstream port.

No SDK globals: each request builds its own provider, whose ``AsyncOpenAI`` client talks to
the upstream port through ``PortTransport``, so concurrent requests never see each other's
settings and every model call (a "hop") is recorded by ``upstream_calls.recorded_call``, the
same code that records passthrough and declarative hops.

Sanitising rule: when the upstream is not OpenAI's own API (its label does not start with
``https://api.openai.com``), settings only OpenAI accepts (``store``, ``reasoning``/
``reasoning_effort``, ``verbosity``, ``metadata``, prompt-cache and Responses-only options)
are dropped, since Agent Builder exports hard-code them and other upstreams reject them.

Hosted tools (``WebSearchTool``, ``FileSearchTool``) run only on the Responses API: a model call
that offers one goes through the SDK's ``OpenAIResponsesModel`` on the same port, and so does
every later call of that request (its conversation then holds hosted call items). An upstream
without a Responses API gets a clear error saying so (``hosted_tools_unavailable``).
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
from agents.models.openai_responses import OpenAIResponsesModel
from agents.tool import FileSearchTool, WebSearchTool
from openai import AsyncOpenAI

from app.adapters.sdk.port_transport import ModelCaller, PortTransport
from app.ports.recorder import Recorder
from app.ports.upstream import UpstreamCall
from app.services.upstream_calls import CallTally
from app.services.upstream_hosted import no_responses_api, unavailable

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
    responses: bool = False  # a model call offered a hosted tool: Responses from then on

    def next_hop(self) -> int:
        self.hops += 1
        return self.hops

    def done(self, call: UpstreamCall, tally: CallTally) -> None:
        """A model call ended well: count its tokens toward the request's usage."""
        self.models.append(call.model)
        self.prompt_tokens += tally.prompt_tokens
        self.completion_tokens += tally.completion_tokens


HOSTED_TOOLS = (WebSearchTool, FileSearchTool)


def _hosted(tools: Any) -> list[str]:
    return [type(t).__name__ for t in tools or () if isinstance(t, HOSTED_TOOLS)]


class GatewayResponsesModel(OpenAIResponsesModel):
    """``OpenAIResponsesModel`` on the upstream port, for agents with hosted tools."""

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
        tools: Any,
        *args: Any,
        **kwargs: Any,
    ) -> ModelResponse:
        settings = self._settings(model_settings)
        try:
            return await super().get_response(
                system_instructions, input, settings, tools, *args, **kwargs
            )
        except Exception as exc:
            if no_responses_api(exc, str(self.model)):
                raise unavailable(_hosted(tools)) from exc
            raise

    async def stream_response(
        self,
        system_instructions: Any,
        input: Any,
        model_settings: ModelSettings,
        tools: Any,
        *args: Any,
        **kwargs: Any,
    ) -> AsyncIterator[TResponseStreamEvent]:
        settings = self._settings(model_settings)
        events = super().stream_response(
            system_instructions, input, settings, tools, *args, **kwargs
        )
        try:
            async for event in events:
                yield event
        except Exception as exc:
            if no_responses_api(exc, str(self.model)):
                raise unavailable(_hosted(tools)) from exc
            raise


class GatewayModel(OpenAIChatCompletionsModel):
    """``OpenAIChatCompletionsModel`` with the gateway's settings rules applied to each call;
    a call that offers a hosted tool (and every later one) goes to ``GatewayResponsesModel``."""

    def __init__(self, model: str, client: AsyncOpenAI, telemetry: RunTelemetry) -> None:
        super().__init__(model=model, openai_client=client)
        self.telemetry = telemetry
        self.responses_model = GatewayResponsesModel(model, client, telemetry)

    def _settings(self, settings: ModelSettings) -> ModelSettings:
        t = self.telemetry
        return sanitise(settings, label=t.label, max_tokens=t.max_tokens)

    def _on_responses(self, tools: Any) -> bool:
        if not self.telemetry.responses and _hosted(tools):
            self.telemetry.responses = True
        return self.telemetry.responses

    async def get_response(
        self,
        system_instructions: Any,
        input: Any,
        model_settings: ModelSettings,
        tools: Any,
        *args: Any,
        **kwargs: Any,
    ) -> ModelResponse:
        if self._on_responses(tools):
            return await self.responses_model.get_response(
                system_instructions, input, model_settings, tools, *args, **kwargs
            )
        return await super().get_response(
            system_instructions, input, self._settings(model_settings), tools, *args, **kwargs
        )

    async def stream_response(
        self,
        system_instructions: Any,
        input: Any,
        model_settings: ModelSettings,
        tools: Any,
        *args: Any,
        **kwargs: Any,
    ) -> AsyncIterator[TResponseStreamEvent]:
        if self._on_responses(tools):
            events = self.responses_model.stream_response(
                system_instructions, input, model_settings, tools, *args, **kwargs
            )
        else:
            events = super().stream_response(
                system_instructions, input, self._settings(model_settings), tools, *args, **kwargs
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
