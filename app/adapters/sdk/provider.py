"""A per-request ``ModelProvider`` bound to the gateway's upstream, recording every model call.

No SDK globals: each request builds its own provider around the shared upstream client, so
concurrent requests never see each other's settings. Every model call (a "hop") is logged as
``upstream.call_started`` then ``upstream.call_completed`` or ``upstream.call_failed``.

Sanitising rule: when the upstream is not OpenAI's own API (its label does not start with
``https://api.openai.com``), settings only OpenAI accepts (``store``, ``reasoning``/
``reasoning_effort``, ``verbosity``, ``metadata``, prompt-cache and Responses-only options)
are dropped, since Agent Builder exports hard-code them and other upstreams reject them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agents.items import ModelResponse, TResponseStreamEvent
from agents.model_settings import ModelSettings
from agents.models.default_models import get_default_model
from agents.models.interface import Model, ModelProvider
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from openai import AsyncOpenAI

from app.adapters.upstream import translate
from app.errors import GatewayError
from app.services.recorder import RequestRecorder
from domain.events import UpstreamCallCompleted, UpstreamCallFailed, UpstreamCallStarted

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

    recorder: RequestRecorder
    label: str
    max_tokens: int | None = None
    hops: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    models: list[str] = field(default_factory=list)

    def next_hop(self) -> int:
        self.hops += 1
        return self.hops


def _us(start: float) -> int:
    return int((time.perf_counter() - start) * 1_000_000)


def _finish_reason(output: list[Any]) -> str:
    return (
        "tool_calls" if any(getattr(o, "type", "") == "function_call" for o in output) else "stop"
    )


class GatewayModel(OpenAIChatCompletionsModel):
    """``OpenAIChatCompletionsModel`` on the gateway's upstream, logging each call as a hop."""

    def __init__(self, model: str, client: AsyncOpenAI, telemetry: RunTelemetry) -> None:
        super().__init__(model=model, openai_client=client)
        self.telemetry = telemetry

    async def _started(self, stream: bool) -> int:
        t = self.telemetry
        hop = t.next_hop()
        t.models.append(str(self.model))
        await t.recorder.record(
            UpstreamCallStarted(
                request_id=t.recorder.request_id,
                hop=hop,
                model=str(self.model),
                stream=stream,
                upstream=t.label,
            )
        )
        return hop

    async def _completed(
        self, hop: int, start: float, usage: Any, output: list[Any], ttft: int
    ) -> None:
        t = self.telemetry
        prompt = int(getattr(usage, "input_tokens", 0) or 0)
        completion = int(getattr(usage, "output_tokens", 0) or 0)
        t.prompt_tokens += prompt
        t.completion_tokens += completion
        await t.recorder.record(
            UpstreamCallCompleted(
                request_id=t.recorder.request_id,
                hop=hop,
                duration_us=_us(start),
                finish_reason=_finish_reason(output),
                prompt_tokens=prompt,
                completion_tokens=completion,
                ttft_us=ttft,
            )
        )

    async def _failed(self, hop: int, start: float, exc: BaseException) -> GatewayError:
        error = translate(exc)
        await self.telemetry.recorder.record(
            UpstreamCallFailed(
                request_id=self.telemetry.recorder.request_id,
                hop=hop,
                duration_us=_us(start),
                error_type=type(exc).__name__,
                message=error.message,
                status=error.status,
            )
        )
        return error

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
        hop = await self._started(stream=False)
        start = time.perf_counter()
        try:
            response = await super().get_response(
                system_instructions, input, self._settings(model_settings), *args, **kwargs
            )
        except Exception as exc:
            raise await self._failed(hop, start, exc) from exc
        await self._completed(hop, start, response.usage, list(response.output), 0)
        return response

    async def stream_response(
        self,
        system_instructions: Any,
        input: Any,
        model_settings: ModelSettings,
        *args: Any,
        **kwargs: Any,
    ) -> AsyncIterator[TResponseStreamEvent]:
        hop = await self._started(stream=True)
        start = time.perf_counter()
        ttft = 0
        events = super().stream_response(
            system_instructions, input, self._settings(model_settings), *args, **kwargs
        )
        try:
            async for event in events:
                if not ttft and event.type.endswith(".delta"):
                    ttft = _us(start)
                if event.type == "response.completed":
                    response = event.response
                    await self._completed(hop, start, response.usage, list(response.output), ttft)
                yield event
        except GatewayError:
            raise
        except Exception as exc:
            raise await self._failed(hop, start, exc) from exc


class GatewayModelProvider(ModelProvider):
    """Resolves every model name of one request to a ``GatewayModel`` on the upstream."""

    def __init__(self, client: AsyncOpenAI, telemetry: RunTelemetry) -> None:
        self.client = client
        self.telemetry = telemetry

    def get_model(self, model_name: str | None) -> Model:
        return GatewayModel(model_name or get_default_model(), self.client, self.telemetry)
