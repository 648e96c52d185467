"""One answer in flight: a producer task turns backend deltas into OpenAI chunk items and events.

The producer runs in its own task, with the request's ``RequestContext`` set in
``current_request``, so tools see their caller and a client that goes away cancels exactly
this task (which closes the upstream stream). It records one ``stream.delta`` per chunk and one
terminal event, and queues the end of the answer only after the events are durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.errors import (
    GatewayError,
    UpstreamError,
    ended_elsewhere,
    internal_error,
    log_unavailable,
)
from app.ids import uuid7
from app.ports.chat_backend import (
    ChatBackend,
    ChatRequest,
    Delta,
    Finish,
    Held,
    TextDelta,
    ToolCallDelta,
    ToolNotice,
    Usage,
)
from app.ports.request_context import RequestContext, current_request
from domain.events import RequestCancelled, RequestCompleted, RequestFailed, StreamDelta
from domain.ports import LogUnavailable, WrongExpectedVersion

log = logging.getLogger(__name__)

ROLE_DELTA: dict[str, Any] = {"role": "assistant", "content": ""}
FIRST_SEND_WAIT_S = 1.0
"""At most this long the producer waits for its first chunk to be sent (if nobody reads on)."""


@dataclass(frozen=True, slots=True)
class DeltaChunk:
    """One ``chat.completion.chunk`` with a choice: its delta and finish reason."""

    delta: dict[str, Any]
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class UsageChunk:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class ErrorChunk:
    """An error after streaming began: sent as an SSE ``{"error": ...}`` event."""

    error: GatewayError


@dataclass(frozen=True, slots=True)
class Done:
    """``data: [DONE]``: every event of the request is durable."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A non-streamed answer, once every event of the request is durable."""

    message: dict[str, Any]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    # With ``show_tools``: every chunk the answer would have streamed, gateway tool notices
    # included, in order (the Responses route builds its ``output`` items from them).
    shown: list[DeltaChunk] | None = None


Item = DeltaChunk | UsageChunk | ErrorChunk | Done | Answer


@dataclass(slots=True)
class _Call:
    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class _State:
    show_tools: bool = False
    seq: int = 0
    emitted: bool = False
    text: list[str] = field(default_factory=list)
    calls: dict[int, _Call] = field(default_factory=dict)  # client-facing index -> call
    indices: dict[int, int] = field(default_factory=dict)  # backend index -> client index
    finish: str | None = None
    held: list[dict[str, Any]] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_us: int = 0
    terminal: bool = False
    shown: list[DeltaChunk] | None = None  # non-streamed with show_tools: the chunks, kept

    def final_reason(self) -> str:
        if self.calls:
            return "tool_calls"
        # Tools the gateway ran itself never end the answer with "tool_calls".
        if self.finish in (None, "tool_calls"):
            return "stop"
        return self.finish

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text) or None}
        if self.calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for _i, c in sorted(self.calls.items())
            ]
        return message

    def absorb(self, delta: Delta) -> DeltaChunk | None:
        """Fold ``delta`` into the answer; the chunk a client should see for it, if any."""
        if isinstance(delta, TextDelta):
            if not delta.content:
                return None
            self.text.append(delta.content)
            return DeltaChunk({"content": delta.content})
        if isinstance(delta, ToolCallDelta):
            if not delta.client:
                return None  # a call the gateway runs: never a client's tool_calls item
            index = self.indices.get(delta.index)
            if index is None:
                # Client calls count from 0, whatever the gateway's own calls used.
                index = self.indices[delta.index] = len(self.indices)
                # id/type/name only on a call's first fragment, whatever the upstream repeats.
                call = _Call(
                    delta.id or "call_" + uuid7().replace("-", ""),
                    delta.name or "",
                    delta.arguments,
                )
                self.calls[index] = call
                function = {"name": call.name, "arguments": delta.arguments}
                first = {"index": index, "id": call.id, "type": "function"}
                return DeltaChunk({"tool_calls": [{**first, "function": function}]})
            if not delta.arguments:
                return None  # no empty `"arguments": ""` fragments after the first
            self.calls[index].arguments += delta.arguments
            fragment = {"index": index, "function": {"arguments": delta.arguments}}
            return DeltaChunk({"tool_calls": [fragment]})
        if isinstance(delta, ToolNotice):
            if self.show_tools:
                return DeltaChunk({"ledgergate_tool_call": delta.payload()})
        elif isinstance(delta, Held):
            self.held = delta.messages
        elif isinstance(delta, Finish):
            self.finish = delta.reason
        elif isinstance(delta, Usage):
            self.prompt_tokens += delta.prompt_tokens
            self.completion_tokens += delta.completion_tokens
        return None


class ChatRun:
    """An admitted request being answered. Read items with ``next`` until ``Done``/``Answer``."""

    def __init__(
        self,
        request: ChatRequest,
        ctx: RequestContext,
        backend: ChatBackend,
        *,
        started_ns: int,
        queue_size: int = 64,
    ) -> None:
        self.request = request
        self.ctx = ctx
        self.backend = backend
        self.request_id = ctx.request_id
        self.model = request.model
        self.created = int(time.time())
        self.finished = False
        self._started_ns = started_ns
        self._queue: asyncio.Queue[Item | GatewayError] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._sent = asyncio.Event()  # the reader is done with (has sent) its first item
        self._reading = False

    def start(self, track: Callable[[asyncio.Task[None]], None] | None = None) -> None:
        context = contextvars.copy_context()
        context.run(current_request.set, self.ctx)
        self._task = asyncio.create_task(self._produce(), context=context)
        if track is not None:
            track(self._task)

    async def next(self) -> Item:
        """The next item; raises the GatewayError of a failure before anything was sent."""
        if self._reading:
            self._sent.set()  # asking for more: the previous item went out
        self._reading = True
        item = await self._queue.get()
        if isinstance(item, GatewayError):
            self.finished = True
            raise item
        if isinstance(item, Done | Answer):
            self.finished = True
        return item

    def next_ready(self) -> Item | None:
        """The next item if one is already queued (never waits), else None; as ``next``."""
        if self._queue.empty():
            return None
        item = self._queue.get_nowait()
        if isinstance(item, GatewayError):
            self.finished = True
            raise item
        if isinstance(item, Done | Answer):
            self.finished = True
        return item

    def cancel(self) -> None:
        """The client went away: stop the backend (and its upstream call), record the end."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def _micros(self) -> int:
        return (time.perf_counter_ns() - self._started_ns) // 1000

    async def _emit(self, state: _State, chunk: DeltaChunk | UsageChunk) -> None:
        if isinstance(chunk, DeltaChunk):
            event = StreamDelta(seq=state.seq, delta=chunk.delta, finish_reason=chunk.finish_reason)
        else:
            usage = {
                "prompt_tokens": chunk.prompt_tokens,
                "completion_tokens": chunk.completion_tokens,
                "total_tokens": chunk.prompt_tokens + chunk.completion_tokens,
            }
            event = StreamDelta(seq=state.seq, usage=usage)
        state.seq += 1
        await self.ctx.recorder.record(event)
        state.emitted = True
        if self._queue.full():  # backpressure: a slow client slows the upstream read
            await self._queue.put(chunk)
        else:
            self._queue.put_nowait(chunk)
        if state.seq == 1:
            # Let the first chunk go out (headers, first bytes) before the rest of a burst is
            # processed; the chunks available by then are sent together, in one write.
            safety = asyncio.get_running_loop().call_later(FIRST_SEND_WAIT_S, self._sent.set)
            try:
                await self._sent.wait()
            finally:
                safety.cancel()

    async def _produce(self) -> None:
        stream = self.request.stream
        state = _State(show_tools=self.request.show_tools)
        if state.show_tools and not stream:
            state.shown = []
        recorder = self.ctx.recorder
        try:
            async for delta in self.backend.run(self.request, self.ctx):
                if not state.ttft_us:
                    state.ttft_us = max(1, self._micros())
                    if stream:
                        await self._emit(state, DeltaChunk(dict(ROLE_DELTA)))
                chunk = state.absorb(delta)
                if chunk is not None:
                    if stream:
                        await self._emit(state, chunk)
                    elif state.shown is not None:
                        state.shown.append(chunk)
            if state.finish is None:
                raise UpstreamError(
                    "The answer ended before it was finished.", code="upstream_incomplete"
                )
            reason = state.final_reason()
            if stream:
                await self._emit(state, DeltaChunk({}, reason))
                if self.request.include_usage:
                    usage = UsageChunk(state.prompt_tokens, state.completion_tokens)
                    await self._emit(state, usage)
            message = None if stream else state.message()
            state.terminal = True
            await recorder.record(
                RequestCompleted(
                    request_id=self.request_id,
                    created=self.created,
                    model=self.model,
                    finish_reason=reason,
                    duration_us=self._micros(),
                    ttft_us=state.ttft_us,
                    prompt_tokens=state.prompt_tokens,
                    completion_tokens=state.completion_tokens,
                    message=message,
                    held=state.held if state.calls else None,
                )
            )
            await recorder.flush()
            if stream:
                await self._queue.put(Done())
            else:
                answer = Answer(
                    state.message(),
                    reason,
                    state.prompt_tokens,
                    state.completion_tokens,
                    shown=state.shown,
                )
                await self._queue.put(answer)
        except asyncio.CancelledError:
            if not state.terminal:
                state.terminal = True
                await recorder.record(
                    RequestCancelled(
                        request_id=self.request_id,
                        reason="client_disconnected",
                        duration_us=self._micros(),
                    )
                )
            with contextlib.suppress(WrongExpectedVersion):  # another node ended it first
                await recorder.flush()
            raise
        except GatewayError as exc:
            await self._fail(state, exc)
        except LogUnavailable as exc:
            await self._fail(state, log_unavailable(exc))
        except WrongExpectedVersion:  # the request's end was refused: another node ended it
            await self._fail(state, ended_elsewhere())
        except Exception:
            log.exception("request %s failed", self.request_id)
            await self._fail(state, internal_error())

    async def _fail(self, state: _State, exc: GatewayError) -> None:
        if not state.terminal:
            state.terminal = True
            await self.ctx.recorder.record(
                RequestFailed(
                    request_id=self.request_id,
                    status=exc.status,
                    error_type=exc.error_type,
                    code=exc.code or "",
                    message=exc.message,
                    duration_us=self._micros(),
                )
            )
        # If the disk refuses even this, or another node ended the request first, the client
        # still hears why (a 503 it may retry).
        with contextlib.suppress(LogUnavailable, WrongExpectedVersion):
            await self.ctx.recorder.flush()
        if state.emitted:
            await self._queue.put(ErrorChunk(exc))
            await self._queue.put(Done())
        else:
            await self._queue.put(exc)
