"""The one gate every tool call goes through: access decision, audit events, timeout, result cap.

Whoever asks — a declarative agent's loop, an SDK agent's own ``function_tool`` or
``use_gateway_tool`` — the call is decided by ``domain.policy.decide_tool`` with the caller from
``app.ports.request_context.current_request``, recorded as ``acl.decided`` then ``tool.invoked`` →
``tool.completed`` | ``tool.failed``, and answered with text the model can read. A tool's failure
never fails the run (unless the manager is told to abort), and never raises out of here.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec

from app.ports.request_context import RequestContext, current_request
from app.settings import Settings
from domain.events import AclDecided, ToolCompleted, ToolFailed, ToolInvoked, ToolSource
from domain.policy import PolicyDecision, Principal, decide_tool

Binder = Callable[[str], tuple[tuple[Any, ...], dict[str, Any]]]
MAX_ERROR_TEXT = 500


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A gateway tool as offered to models: its name, description and JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the tool module's file path
    timeout_s: float | None = None  # per-tool override of settings.tool_timeout_s
    strict: bool = False  # whether ``parameters`` is an OpenAI strict schema
    bind: Binder | None = None  # JSON arguments -> (args, kwargs); raises ToolArgumentsError


@dataclass(frozen=True, slots=True)
class _Call:
    call_id: str
    tool: str
    source: ToolSource
    agent: str
    request_id: str


class ToolArgumentsError(ValueError):
    """The model's arguments do not fit the tool's schema."""


class ToolCallAborted(Exception):
    """Raised instead of a model-visible message when the manager is set to abort runs."""

    def __init__(self, tool: str, outcome: str, message: str) -> None:
        super().__init__(message)
        self.tool, self.outcome, self.message = tool, outcome, message


class ToolRaised(Exception):
    """A tool's code that ran in another process (a drop-in's worker) raised: its type's name."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _kind(exc: BaseException) -> str:
    return exc.error_type if isinstance(exc, ToolRaised) else type(exc).__name__


class _Failure(Exception):
    def __init__(self, outcome: str, error_type: str, message: str) -> None:
        super().__init__(message)
        self.outcome, self.error_type, self.message = outcome, error_type, message


# Drop-ins call ``use_gateway_tool`` at import time, before any request: the specs of loaded
# tool modules are published process-wide so that the schema is known then.
_PUBLISHED: dict[str, ToolSpec] = {}


def published_spec(name: str) -> ToolSpec | None:
    """The spec of a loaded gateway tool, from any ToolManager of this process."""
    return _PUBLISHED.get(name)


def _enc_hook(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)  # pydantic models, without importing pydantic
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"Objects of type {type(obj).__name__} are not JSON serializable")


def json_text(value: Any) -> str:
    """A tool result as JSON text; a ``str`` result is passed through as the model reads it."""
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value, enc_hook=_enc_hook).decode("utf-8")


def _default_bind(arguments: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    try:
        data = msgspec.json.decode(arguments or "{}")
    except msgspec.DecodeError as exc:
        raise ToolArgumentsError(f"arguments are not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ToolArgumentsError("arguments must be a JSON object")
    return (), data


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


def tool_acl_event(ctx: RequestContext, name: str, decision: PolicyDecision) -> AclDecided:
    """The ``acl.decided`` event of one tool-call decision."""
    return AclDecided(
        subject=ctx.principal.key_id,
        action="call_tool",
        resource=name,
        decision="allow" if decision.allowed else "deny",
        rule=decision.rule,
        request_id=ctx.request_id,
        agent=ctx.agent,
    )


def denial_message(ctx: RequestContext, name: str, decision: PolicyDecision) -> str:
    """What the model is told when a tool call is denied."""
    who = f"agent '{ctx.agent}'" if decision.rule == "agent.tools" else "this key"
    return f"Tool '{name}' is not allowed for {who} (rule {decision.rule})."


class ToolManager:
    """Gateway tools of one process, and the governed way to call any tool."""

    def __init__(
        self,
        *,
        timeout_s: float = 30.0,
        result_max_bytes: int = 65_536,
        abort_on_deny: bool = False,
        abort_on_error: bool = False,
        max_threads: int = 16,
        max_concurrency: int = 4,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_concurrency = max_concurrency
        # Calls per tool that have not returned, timed-out ones included (a thread cannot be
        # stopped): a tool at its limit is refused, so one hung tool never starves the others.
        self._running: dict[str, int] = {}
        self._running_lock = threading.Lock()
        self.result_max_bytes = result_max_bytes
        self.abort_on_deny = abort_on_deny
        self.abort_on_error = abort_on_error
        self._tools: dict[str, tuple[ToolSpec, Callable[..., Any]]] = {}
        # Tool modules that failed at the last load (adapters' FailedToolModule), for discovery.
        self.failed_modules: list[Any] = []
        # Own threads for sync tools: a hung tool keeps its thread, never the loop's default pool.
        self._executor = ThreadPoolExecutor(max_threads, thread_name_prefix="ledgergate-tool")

    @classmethod
    def from_settings(cls, settings: Settings) -> ToolManager:
        return cls(
            timeout_s=settings.tool_timeout_s,
            result_max_bytes=settings.tool_result_max_bytes,
            max_concurrency=settings.tool_max_concurrency,
        )

    def running(self, name: str) -> int:
        """Calls of ``name`` that have not returned yet (timed-out ones included)."""
        return self._running.get(name, 0)

    def _take(self, name: str) -> None:
        """Count a call of ``name`` in, or refuse it while the tool has too many unfinished."""
        with self._running_lock:
            running = self._running.get(name, 0)
            if running >= self.max_concurrency:
                msg = (
                    f"Tool '{name}' is busy: {running} earlier calls have not finished (at most"
                    f" {self.max_concurrency} at once); try again later."
                )
                raise _Failure("error", "tool_busy", msg)
            self._running[name] = running + 1

    def _give(self, name: str) -> None:
        with self._running_lock:
            self._running[name] -= 1

    def _in_thread(self, name: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        finally:
            self._give(name)  # when the thread is really free again, not at the timeout

    def register(self, spec: ToolSpec, fn: Callable[..., Any]) -> None:
        self._tools[spec.name] = (spec, fn)
        _PUBLISHED[spec.name] = spec

    def replace(self, tools: Iterable[tuple[ToolSpec, Callable[..., Any]]]) -> None:
        """Swap the whole table at once (a rescan), so a call sees the old or the new set."""
        table = {spec.name: (spec, fn) for spec, fn in tools}
        self._tools = table
        _PUBLISHED.update({name: spec for name, (spec, _fn) in table.items()})

    def specs(self) -> list[ToolSpec]:
        return [spec for spec, _fn in self._tools.values()]

    def get(self, name: str) -> ToolSpec | None:
        entry = self._tools.get(name)
        return entry[0] if entry else None

    def offered(self, principal: Principal, agent_tools: Sequence[str] | None) -> list[ToolSpec]:
        """The tools a model may be shown: exactly those this caller and agent may call."""
        return [s for s in self.specs() if decide_tool(principal, agent_tools, s.name).allowed]

    @staticmethod
    def openai_tools(specs: Iterable[ToolSpec]) -> list[dict[str, Any]]:
        """``specs`` in the Chat Completions ``tools`` parameter form."""
        return [
            {
                "type": "function",
                "function": {
                    "name": s.name,
                    "description": s.description,
                    "parameters": s.parameters or {"type": "object", "properties": {}},
                },
            }
            for s in specs
        ]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def call_gateway_tool(
        self, name: str, arguments: str, *, call_id: str, source: ToolSource = "gateway"
    ) -> str:
        """Run gateway tool ``name`` for the current request; return what the model should read."""
        entry = self._tools.get(name)
        timeout = (entry[0].timeout_s if entry else None) or self.timeout_s

        async def run() -> str:
            if entry is None:
                raise _Failure("error", "unknown_tool", f"Tool '{name}' does not exist.")
            spec, fn = entry
            try:
                args, kwargs = (spec.bind or _default_bind)(arguments)
            except Exception as exc:  # a binder may raise anything; the model must hear why
                msg = f"Tool '{name}' got invalid arguments: {_short(str(exc))}"
                raise _Failure("error", "invalid_arguments", msg) from exc
            self._take(name)
            if inspect.iscoroutinefunction(fn):
                try:
                    result = await fn(*args, **kwargs)  # cancelled at the timeout: really ends
                finally:
                    self._give(name)
            else:
                call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
                job = functools.partial(self._in_thread, name, call)
                result = await asyncio.get_running_loop().run_in_executor(self._executor, job)
                if inspect.isawaitable(result):
                    result = await result
            return self._text(name, result)

        out = await self._govern(name, arguments, call_id, source, run=run, timeout=timeout)
        return out if isinstance(out, str) else json_text(out)

    async def call_sdk_tool(
        self,
        name: str,
        arguments: str,
        *,
        call_id: str,
        invoke: Callable[[], Awaitable[Any]],
        timeout_s: float | None = None,
        reraise: tuple[type[BaseException], ...] = (),
    ) -> Any:
        """Govern an Agents SDK FunctionTool's own ``on_invoke_tool`` (passed as ``invoke``).

        Returns the tool's result (a dict or list as JSON text) or the model-visible error text.
        Exceptions of a type in ``reraise`` (the SDK's own, meant to stop the run) are recorded
        and raised again.
        """

        async def run() -> Any:
            # The SDK runs a sync tool with asyncio.to_thread: cancelling it frees nothing, so
            # the call runs on (shielded) and holds its slot until it really returns.
            self._take(name)
            call = asyncio.ensure_future(invoke())
            call.add_done_callback(lambda done: self._ended(name, done))
            try:
                result = await asyncio.wait_for(asyncio.shield(call), timeout)
            except asyncio.CancelledError:
                call.cancel()  # the request went away: an async tool stops (a thread cannot)
                raise
            if isinstance(result, dict | list | tuple):
                return self._text(name, result)
            text = result if isinstance(result, str) else str(result)
            self._check_size(name, text)
            return result

        timeout = timeout_s or self.timeout_s
        return await self._govern(
            name,
            arguments,
            call_id,
            "sdk",
            run=run,
            timeout=timeout,
            reraise=reraise,
            timed_by_run=True,
        )

    async def check_call(self, name: str) -> str | None:
        """The access decision for a call its caller runs itself (an MCP server's tool),
        recorded as ``acl.decided``: None if allowed, else what the model is told."""
        ctx = current_request.get()
        if ctx is None:
            return f"Tool '{name}' is not allowed outside a gateway request."
        decision = decide_tool(ctx.principal, ctx.agent_tools, name)
        await ctx.recorder.record(tool_acl_event(ctx, name, decision))
        return None if decision.allowed else denial_message(ctx, name, decision)

    def _ended(self, name: str, call: asyncio.Future[Any]) -> None:
        self._give(name)
        if not call.cancelled():
            call.exception()  # a result nobody waits for any more: retrieved, not warned about

    def _text(self, name: str, result: Any) -> str:
        try:
            text = json_text(result)
        except (TypeError, ValueError, OverflowError) as exc:
            msg = (
                f"Tool '{name}' returned a value that cannot be converted to JSON: "
                f"{type(exc).__name__}: {_short(str(exc))}"
            )
            raise _Failure("error", "unserializable_result", msg) from exc
        self._check_size(name, text)
        return text

    def _check_size(self, name: str, text: str) -> None:
        size = len(text.encode("utf-8"))
        if size > self.result_max_bytes:
            msg = (
                f"Tool '{name}' returned {size} bytes, more than the "
                f"{self.result_max_bytes}-byte limit."
            )
            raise _Failure("error", "result_too_large", msg)

    async def _govern(
        self,
        name: str,
        arguments: str,
        call_id: str,
        source: ToolSource,
        *,
        run: Callable[[], Awaitable[Any]],
        timeout: float,
        reraise: tuple[type[BaseException], ...] = (),
        timed_by_run: bool = False,
    ) -> Any:
        """``timed_by_run``: ``run`` applies ``timeout`` itself (and raises TimeoutError)."""
        ctx = current_request.get()
        if ctx is None:
            return f"Tool '{name}' is not allowed outside a gateway request."
        decision = decide_tool(ctx.principal, ctx.agent_tools, name)
        call = _Call(call_id, name, source, ctx.agent, ctx.request_id)
        await ctx.recorder.record(
            tool_acl_event(ctx, name, decision),
            ToolInvoked(
                call_id=call_id,
                tool=name,
                source=source,
                agent=ctx.agent,
                arguments=arguments,
                request_id=ctx.request_id,
            ),
        )
        started = time.perf_counter()
        try:
            if not decision.allowed:
                raise _Failure("denied", "denied", denial_message(ctx, name, decision))
            try:
                limit = None if timed_by_run else timeout
                result = await asyncio.wait_for(_no_exit(name, run), limit)
            except TimeoutError as exc:
                msg = f"Tool '{name}' timed out after {float(timeout)}s."
                raise _Failure("timeout", "timeout", msg) from exc
            except _Failure:
                raise
            except Exception as exc:
                if reraise and isinstance(exc, reraise):
                    raise
                msg = f"Tool '{name}' failed: {_kind(exc)}: {_short(str(exc))}"
                raise _Failure("error", _kind(exc), msg) from exc
        except _Failure as failure:
            await self._failed(ctx, call, started, failure)
            aborting = self.abort_on_deny if failure.outcome == "denied" else self.abort_on_error
            if aborting:
                raise ToolCallAborted(name, failure.outcome, failure.message) from failure
            return failure.message
        except asyncio.CancelledError:
            # The request went away mid-call: the audit trail still shows how the call ended.
            await self._failed(ctx, call, started, _Failure("error", "cancelled", "cancelled"))
            raise
        except BaseException as exc:
            text = f"{_kind(exc)}: {_short(str(exc))}"
            await self._failed(ctx, call, started, _Failure("error", _kind(exc), text))
            raise
        text = result if isinstance(result, str) else str(result)
        await ctx.recorder.record(
            ToolCompleted(
                call_id=call_id,
                tool=name,
                source=source,
                agent=ctx.agent,
                duration_us=_micros_since(started),
                result=text,
                request_id=ctx.request_id,
            )
        )
        return result

    async def _failed(
        self, ctx: RequestContext, call: _Call, started: float, failure: _Failure
    ) -> None:
        ctx.tool_outcomes[call.call_id] = "failed"
        await ctx.recorder.record(
            ToolFailed(
                call_id=call.call_id,
                tool=call.tool,
                source=call.source,
                agent=call.agent,
                duration_us=_micros_since(started),
                outcome=failure.outcome,  # type: ignore[arg-type]
                error_type=failure.error_type,
                message=failure.message,
                request_id=call.request_id,
            )
        )


async def _no_exit(name: str, run: Callable[[], Awaitable[Any]]) -> Any:
    # Inside the task wait_for makes: asyncio hands a SystemExit escaping a task to the event
    # loop itself, so a tool's sys.exit() would stop the whole server.
    try:
        return await run()
    except SystemExit as exc:
        raise _Failure("error", "SystemExit", f"Tool '{name}' failed: SystemExit: {exc}") from None


def _micros_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1_000_000)
