"""The one place that records ``upstream.call_*``: every upstream call of every backend.

Passthrough, declarative agents and the Agents SDK provider all call the upstream through
``recorded_call``: it records ``upstream.call_started``, decodes each event the upstream port
hands over (Chat Completions chunks or Responses events, streamed or not), keeps the tally
(time to first token, finish reason, tokens) and ends with ``upstream.call_completed`` or
``upstream.call_failed``. Payload errors (bad JSON, an error event mid-stream, a stream that
ends unfinished) become ``GatewayError``s here; transport and status errors already are.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import msgspec

from app.errors import GatewayError, UpstreamError
from app.ports.recorder import Recorder
from app.ports.upstream import Upstream, UpstreamCall, UpstreamStatusError
from app.services import upstream_hosted as hosted
from app.services.upstream_payloads import (
    ChatCompletion,
    ChatCompletionChunk,
    Response,
    ResponseStreamEvent,
    decode_chunk,
    decode_completion,
    decode_response,
    decode_response_event,
)
from domain.events import UpstreamCallCompleted, UpstreamCallFailed, UpstreamCallStarted

Payload = ChatCompletionChunk | ChatCompletion | ResponseStreamEvent | Response

_DECODERS: dict[tuple[str, bool], Callable[[bytes], Any]] = {
    ("chat", True): decode_chunk,
    ("chat", False): decode_completion,
    ("responses", True): decode_response_event,
    ("responses", False): decode_response,
}
# Recorded when the client went away mid-call (status 0: nobody answered).
_CANCELLED = GatewayError("The client went away.", code="cancelled", status=0)
_RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete"})


def _broken() -> GatewayError:
    return UpstreamError(
        "The upstream closed the stream before it finished.", code="upstream_stream_broken"
    )


def _reported(error: Any) -> GatewayError:
    # The upstream's own words stay out: they may describe our credentials.
    del error
    return UpstreamError("The upstream call failed.", code="upstream_error")


class CallTally:
    """What one call's answer said so far: when it began, how it finished, its tokens."""

    __slots__ = ("completion_tokens", "finish", "prompt_tokens", "started", "ttft_us")

    def __init__(self) -> None:
        self.started = time.perf_counter_ns()
        self.ttft_us = 0
        self.finish = ""
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def elapsed_us(self) -> int:
        return (time.perf_counter_ns() - self.started) // 1000

    def chat_chunk(self, chunk: ChatCompletionChunk) -> None:
        if chunk.error:
            raise _reported(chunk.error)
        for choice in chunk.choices or ():
            if choice.index == 0 and choice.finish_reason:
                self.finish = choice.finish_reason
        if chunk.usage is not None:
            self.prompt_tokens = chunk.usage.prompt_tokens or 0
            self.completion_tokens = chunk.usage.completion_tokens or 0

    def chat_completion(self, completion: ChatCompletion) -> None:
        if not completion.choices:
            raise UpstreamError(
                "The upstream answered without a choice.", code="upstream_bad_response"
            )
        self.finish = completion.choices[0].finish_reason or "stop"
        if completion.usage is not None:
            self.prompt_tokens = completion.usage.prompt_tokens or 0
            self.completion_tokens = completion.usage.completion_tokens or 0

    def response(self, response: Response) -> None:
        if response.error or response.status == "failed":
            raise _reported(response.error)
        calls = any(item.type == "function_call" for item in response.output or ())
        self.finish = "length" if response.status == "incomplete" else "stop"
        if calls:
            self.finish = "tool_calls"
        if response.usage is not None:
            self.prompt_tokens = response.usage.input_tokens or 0
            self.completion_tokens = response.usage.output_tokens or 0

    def response_event(self, event: ResponseStreamEvent) -> None:
        if event.type in ("error", "response.failed"):
            raise _reported(event.message)
        if event.type in _RESPONSE_ENDS and event.response is not None:
            self.response(event.response)

    def observe(self, payload: Payload) -> None:
        if isinstance(payload, ChatCompletionChunk):
            self.chat_chunk(payload)
        elif isinstance(payload, ChatCompletion):
            self.chat_completion(payload)
        elif isinstance(payload, ResponseStreamEvent):
            self.response_event(payload)
        else:
            self.response(payload)


async def recorded_call(
    upstream: Upstream,
    recorder: Recorder,
    call: UpstreamCall,
    *,
    hop: int,
    tally: CallTally | None = None,
    record_cancel: bool = True,
) -> AsyncGenerator[tuple[bytes, Payload], None]:
    """Make ``call`` as hop ``hop`` of ``recorder``'s request: each event's raw ``data`` and
    its decoded payload, in order. Raises ``GatewayError`` only (after recording it).

    ``record_cancel``: record a cancelled call as ``upstream.call_failed`` (``cancelled``). The
    Agents SDK runs model calls in its own task, cancelled only after the request's terminal
    event; recording then would put an event after it, so the SDK path passes False.
    """
    tally = tally if tally is not None else CallTally()
    governed = hosted.applies(call)  # an agent's Responses call: its hosted tools governed
    if governed is not None:
        call = await hosted.offer(governed, call)
    await recorder.record(
        UpstreamCallStarted(
            request_id=recorder.request_id,
            hop=hop,
            model=call.model,
            stream=call.stream,
            upstream=upstream.label,
        )
    )
    decode = _DECODERS[(call.api, call.stream)]
    events = upstream.send(call)
    try:
        async for data in events:
            try:
                payload = decode(data)
            except msgspec.DecodeError as exc:
                raise UpstreamError(
                    "The upstream sent a malformed response.", code="upstream_bad_response"
                ) from exc
            if not tally.ttft_us and call.stream:
                tally.ttft_us = tally.elapsed_us()
            tally.observe(payload)
            if governed is not None:
                await hosted.observe(governed, data, stream=call.stream)
            yield data, payload
        if not tally.finish:
            raise _broken()
    except asyncio.CancelledError:
        if record_cancel:
            await _failed(recorder, hop, tally, _CANCELLED)
        raise
    except GatewayError as error:
        await _failed(recorder, hop, tally, error)
        raise
    except Exception as exc:  # the port promises GatewayErrors; a bug still ends the call
        failure = UpstreamError("The upstream call failed.", code="upstream_error")
        await _failed(recorder, hop, tally, failure)
        raise failure from exc
    finally:
        await events.aclose()
    await recorder.record(
        UpstreamCallCompleted(
            request_id=recorder.request_id,
            hop=hop,
            duration_us=tally.elapsed_us(),
            finish_reason=tally.finish,
            prompt_tokens=tally.prompt_tokens,
            completion_tokens=tally.completion_tokens,
            ttft_us=tally.ttft_us,
        )
    )


async def _failed(recorder: Recorder, hop: int, tally: CallTally, error: GatewayError) -> None:
    # The upstream's own status when it answered with one, else the status the client gets.
    status = error.upstream_status if isinstance(error, UpstreamStatusError) else error.status
    await recorder.record(
        UpstreamCallFailed(
            request_id=recorder.request_id,
            hop=hop,
            duration_us=tally.elapsed_us(),
            error_type=error.code or error.error_type,
            message=error.message,
            status=status,
        )
    )
