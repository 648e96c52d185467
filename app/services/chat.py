"""The chat-completions service: admission (model, ACL, first events) and one task per answer.

``start`` resolves the model (a drop-in agent wins over an upstream model of the same name),
records ``request.received`` and ``acl.decided`` and starts a ``ChatRun``. The run's producer
task owns the backend, the ``RequestContext`` and every later event; it hands chunk items to the
HTTP layer through a small bounded queue (backpressure: a slow client slows the upstream read).
The end of an answer (``Done`` or the non-streamed ``Answer``) is queued only after ``flush``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from app.errors import DropinUnavailable, Forbidden, GatewayError, NotFound
from app.ids import new_request_id
from app.ports.chat_backend import ChatBackend, ChatRequest
from app.ports.request_context import RequestContext
from app.services import held
from app.services.agents import AgentEntry, AgentRegistry
from app.services.chat_run import Answer, ChatRun, DeltaChunk, Done, ErrorChunk, UsageChunk
from app.services.recorder import RequestRecorder
from app.settings import Settings
from domain.events import CHAT_API, AclDecided, RequestFailed, RequestReceived
from domain.policy import Principal, decide_agent, decide_model
from domain.ports import EventStore

__all__ = (
    "Answer",
    "ChatRun",
    "ChatService",
    "DeltaChunk",
    "Done",
    "ErrorChunk",
    "UsageChunk",
    "scrub_body",
)

log = logging.getLogger(__name__)

_SECRET_NAMES = ("api_key", "apikey", "authorization", "password", "secret", "token")


def scrub_body(value: Any) -> Any:
    """The request body as sent, minus anything that looks like a credential."""
    if isinstance(value, dict):
        return {k: "[redacted]" if _secret_name(k) else scrub_body(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_body(v) for v in value]
    return value


def _secret_name(key: Any) -> bool:
    lowered = str(key).lower()
    # max_tokens & co are counts, not credentials.
    return any(n in lowered for n in _SECRET_NAMES) and not lowered.endswith("_tokens")


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # "agent" | "upstream"
    backend: ChatBackend
    entry: AgentEntry | None = None


class ChatService:
    """Serves ``POST /v1/chat/completions`` for every model kind."""

    def __init__(
        self,
        *,
        store: EventStore,
        agents: AgentRegistry,
        upstream_backend: ChatBackend,
        allows_model: Callable[[str], bool],
        tool_manager: Any = None,
        node: str = "",
        settings: Settings | None = None,
    ) -> None:
        self.store = store
        # The request limits its routes enforce (body size, messages), with the service: a hot
        # route then needs one injected dependency, and Litestar resolves a single one inline.
        self.settings = settings or Settings()
        self.node = node  # this process's node id, recorded on every request.received
        self.agents = agents
        self.upstream_backend = upstream_backend
        self.allows_model = allows_model
        self.tool_manager = tool_manager
        self._running: set[asyncio.Task[None]] = set()

    def resolve(self, model: str) -> Target | None:
        entry = self.agents.get(model)
        if entry is not None:
            return Target("agent", entry.backend, entry)
        if self.allows_model(model):
            return Target("upstream", self.upstream_backend)
        return None

    async def reject(
        self,
        principal: Principal,
        raw: dict[str, Any],
        exc: GatewayError,
        *,
        client: str = "",
        request_id: str | None = None,
        api: str = CHAT_API,
    ) -> str:
        """Record a request that parsed as JSON but is invalid: received, then failed."""
        request_id = request_id or new_request_id()
        model = raw.get("model")
        recorder = RequestRecorder(self.store, request_id)
        await recorder.record(
            self._received(
                request_id,
                principal,
                model if isinstance(model, str) else "",
                raw,
                "unknown",
                client=client,
                api=api,
            ),
            _failed(request_id, exc, 0),
        )
        await recorder.flush()
        return request_id

    async def start(
        self,
        principal: Principal,
        request: ChatRequest,
        *,
        client: str = "",
        request_id: str | None = None,
        api: str = CHAT_API,
        body: dict[str, Any] | None = None,
    ) -> ChatRun:
        """Admit ``request`` and start answering it. Raises GatewayError (already recorded).

        ``api`` names the route (recorded in ``request.received``); ``body``, when given, is
        what the client sent, recorded instead of ``request.raw`` (a translated request).
        """
        sent = request.raw if body is None else body
        started = time.perf_counter_ns()
        request_id = request_id or new_request_id()
        recorder = RequestRecorder(self.store, request_id)
        target = self.resolve(request.model)
        failed = self.agents.failed.get(request.model)
        refusal: tuple[str, GatewayError] | None = None
        if failed is not None and (target is None or target.kind == "upstream"):
            refusal = (
                "agent",
                DropinUnavailable(
                    f"The drop-in '{request.model}' failed to load ({failed.error_type}:"
                    f" {failed.message}). {failed.remediation}",
                    param="model",
                ),
            )
        elif target is None:
            refusal = (
                "unknown",
                NotFound(
                    f"The model '{request.model}' does not exist or you do not have access to it.",
                    param="model",
                ),
            )
        if refusal is not None:
            kind, exc = refusal
            await self._refuse(
                recorder=recorder,
                principal=principal,
                request=request,
                kind=kind,
                client=client,
                exc=exc,
                api=api,
                body=sent,
            )
            raise exc
        assert target is not None  # every unresolved model was refused above
        if target.kind == "agent":
            decision, action = decide_agent(principal, request.model), "use_agent"
        else:
            decision, action = decide_model(principal, request.model), "use_model"
        received = self._received(
            request_id,
            principal,
            request.model,
            sent,
            target.kind,
            client=client,
            stream=request.stream,
            api=api,
        )
        acl = AclDecided(
            subject=principal.key_id,
            action=action,
            resource=request.model,
            decision="allow" if decision.allowed else "deny",
            rule=decision.rule,
            request_id=request_id,
            agent=request.model if target.kind == "agent" else "",
        )
        if not decision.allowed:
            exc = Forbidden(
                f"This key may not use the model '{request.model}' (rule {decision.rule}).",
                param="model",
                code="model_not_allowed",
            )
            await recorder.record(received, acl, _failed(request_id, exc, 0))
            await recorder.flush()
            raise exc
        await recorder.record(received, acl)
        if target.kind == "agent":
            # The gateway's own calls kept back from an earlier answer go back in place.
            messages = await held.restore(self.store, principal.key_id, request.messages)
            if messages is not request.messages:
                # A Responses request's items are the client's copy: an SDK drop-in then runs
                # on the restored messages instead (converted back to items, losslessly).
                request = msgspec.structs.replace(request, messages=messages, items=None)
        entry = target.entry
        ctx = RequestContext(
            request_id=request_id,
            principal=principal,
            recorder=recorder,
            agent=entry.name if entry else "",
            agent_tools=entry.tools if entry else (),
            tool_manager=self.tool_manager,
        )
        run = ChatRun(request, ctx, target.backend, started_ns=started)
        run.start(self._track)
        return run

    def _track(self, task: asyncio.Task[None]) -> None:
        # Keep producer tasks referenced until done: a cancelled run still records its end.
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait a little for running answers to record their end (shutdown)."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)

    async def _refuse(
        self,
        *,
        recorder: RequestRecorder,
        principal: Principal,
        request: ChatRequest,
        kind: str,
        client: str,
        exc: GatewayError,
        api: str,
        body: dict[str, Any],
    ) -> None:
        await recorder.record(
            self._received(
                recorder.request_id,
                principal,
                request.model,
                body,
                kind,
                client=client,
                stream=request.stream,
                api=api,
            ),
            _failed(recorder.request_id, exc, 0),
        )
        await recorder.flush()

    def _received(
        self,
        request_id: str,
        principal: Principal,
        model: str,
        raw: dict[str, Any],
        target: str,
        *,
        client: str,
        stream: bool | None = None,
        api: str = CHAT_API,
    ) -> RequestReceived:
        if stream is None:
            stream = raw.get("stream") is True
        return RequestReceived(
            request_id=request_id,
            key_id=principal.key_id,
            model=model,
            stream=stream,
            target=target,
            body=scrub_body(raw),
            client=client,
            api=api,
            node=self.node,
        )


def _failed(request_id: str, exc: GatewayError, duration_us: int) -> RequestFailed:
    return RequestFailed(
        request_id=request_id,
        status=exc.status,
        error_type=exc.error_type,
        code=exc.code or "",
        message=exc.message,
        duration_us=duration_us,
    )


async def first_or_disconnect(
    run: ChatRun, receive: Callable[[], Awaitable[dict[str, Any]]]
) -> DeltaChunk | UsageChunk | ErrorChunk | Done | Answer | None:
    """The run's first item; None (and the run cancelled) if the client leaves before it."""
    first = asyncio.ensure_future(run.next())
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({first, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if first.done():
        return first.result()
    first.cancel()
    run.cancel()
    return None


async def _disconnected(receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
