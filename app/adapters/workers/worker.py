"""The worker process of one SDK drop-in: imports it once, then runs its requests for the gateway.

Forked from the probe server (``probe_server``), which has the Agents SDK imported and the
process set up as the gateway's, so a worker costs a fork plus the drop-in's import. It holds
no key and no log: each run's model calls go to the gateway (``ModelCall``: the gateway makes
the upstream call with ``recorded_call`` and streams the events back), each tool call asks the
gateway first (``ToolCall``: the gateway decides and records; an allowed SDK tool is run here on
``ToolExec`` and its outcome reported back), and the run's deltas go to the gateway as they
come. Everything crosses one Unix stream socket (``frames``); the worker leaves when the
gateway's end closes.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import os
import resource
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from app.adapters.discovery.files import DropinSource
from app.adapters.discovery.loader import Entry, classify, load_python
from app.adapters.sdk.backend import SdkBackend, WorkflowBackend
from app.adapters.sdk.port_transport import ModelCaller
from app.adapters.workers import protocol as p
from app.adapters.workers.frames import Writer, error_fields, gateway_error, read_message
from app.errors import GatewayError, internal_error
from app.ports.chat_backend import ChatBackend
from app.ports.request_context import RequestContext
from app.ports.upstream import UpstreamCall
from app.services.agents import DropinError
from app.services.tools import ToolCallAborted, ToolManager, ToolSpec, json_text
from app.services.upstream_calls import CallTally
from domain.policy import Principal

_MB = 1024 * 1024
# Decisions are the gateway's: a run here never needs to know who called.
_NOBODY = Principal(key_id="", name="")
_MISSING = object()


class _NoLog:
    """The worker's ``Recorder``: events are the gateway's to record, never the worker's."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id

    async def record(self, *events: Any) -> None:
        raise RuntimeError("a drop-in worker holds no log: the gateway records")

    async def flush(self) -> int:
        return 0


# An allowed SDK tool waiting for the gateway's ``ToolExec``: how to run it, which of its
# exceptions stop the run, and the context of the run that called it.
Invoke = tuple[Callable[[], Awaitable[Any]], tuple[type[Any], ...], contextvars.Context]


class Link:
    """The worker's end of its socket: runs, and the answers each one waits for."""

    def __init__(self, out: Writer, backend: Callable[[ModelCaller], ChatBackend]) -> None:
        self.out = out
        self.backend = backend
        self.label = ""
        self.runs: dict[int, asyncio.Task[None]] = {}
        self.model_calls: dict[tuple[int, int], asyncio.Queue[p.Message | None]] = {}
        self.waits: dict[int, asyncio.Future[p.ToolDone]] = {}
        self.invokes: dict[int, Invoke] = {}
        self.execs: dict[int, asyncio.Task[None]] = {}
        self.kept: dict[int, Any] = {}  # a tool's own result (or exception) for the model
        self.numbers = itertools.count(1)

    async def serve(self, reader: asyncio.StreamReader) -> None:
        while (message := await read_message(reader)) is not None:
            self.dispatch(message)

    def dispatch(self, m: p.Message) -> None:
        if isinstance(m, p.RunStart):
            self.runs[m.run] = asyncio.create_task(self._run(m))
        elif isinstance(m, p.RunCancel):
            if (task := self.runs.get(m.run)) is not None:
                task.cancel()
        elif isinstance(m, p.ModelEvents | p.ModelEnd | p.ModelFailed):
            if (queue := self.model_calls.get((m.run, m.call))) is not None:
                queue.put_nowait(m)
        elif isinstance(m, p.ToolExec):
            self._exec(m.n)
        elif isinstance(m, p.ToolDone):
            if (wait := self.waits.pop(m.n, None)) is not None and not wait.done():
                wait.set_result(m)
        elif isinstance(m, p.Ping):
            self.out.send(p.Pong(n=m.n))

    async def _run(self, m: p.RunStart) -> None:
        tools = RemoteTools(self, m.run)
        ctx = RequestContext(
            request_id=m.request_id,
            principal=_NOBODY,
            recorder=_NoLog(m.request_id),  # the log is the gateway's
            agent=m.agent,
            agent_tools=tuple(m.agent_tools),
            tool_manager=tools,
        )
        tools.ctx = ctx
        backend = self.backend(RemoteCaller(self, m.run))
        try:
            async for delta in backend.run(m.request, ctx):
                self.out.send(p.Deltas(run=m.run, items=[delta]))
                await self.out.pace()
            self.out.send(p.RunEnded(run=m.run))
        except asyncio.CancelledError:
            pass  # the gateway cancelled the run: it waits for nothing more
        except GatewayError as exc:
            self.out.send(p.RunFailed(run=m.run, error=error_fields(exc)))
        except Exception:
            self.out.send(p.RunFailed(run=m.run, error=error_fields(internal_error())))
        finally:
            self.runs.pop(m.run, None)

    def ask(self, message: p.ToolCall) -> asyncio.Future[p.ToolDone]:
        wait: asyncio.Future[p.ToolDone] = asyncio.get_running_loop().create_future()
        self.waits[message.n] = wait
        self.out.send(message)
        return wait

    def _exec(self, n: int) -> None:
        found = self.invokes.pop(n, None)
        if found is None:  # the call was cancelled here meanwhile
            self.out.send(p.ToolResult(n=n, text="cancelled", error_type="cancelled"))
            return
        invoke, reraise, context = found
        # In the calling run's context: the request (current_request) reaches the tool, and the
        # tools of an as_tool() agent's nested run stay governed as that request's.
        self.execs[n] = asyncio.create_task(self._invoke(n, invoke, reraise), context=context)

    async def _invoke(
        self, n: int, invoke: Callable[[], Awaitable[Any]], reraise: tuple[type[Any], ...]
    ) -> None:
        try:
            result = await invoke()
        except asyncio.CancelledError:
            self.out.send(p.ToolResult(n=n, text="cancelled", error_type="cancelled"))
            raise
        except BaseException as exc:  # SystemExit too: a tool cannot end the worker this way
            stops = bool(reraise) and isinstance(exc, reraise)
            if stops and n in self.waits:
                self.kept[n] = exc
            self.out.send(
                p.ToolResult(n=n, text=str(exc), error_type=type(exc).__name__, reraise=stops)
            )
        else:
            if n in self.waits:  # else the gateway gave up on it (a timeout): nobody reads it
                self.kept[n] = result
            self.out.send(p.ToolResult(n=n, text=_as_text(result)))
        finally:
            self.execs.pop(n, None)


def _as_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, dict | list | tuple):
        try:
            return json_text(result)
        except (TypeError, ValueError, OverflowError) as exc:
            return f"<unserializable: {type(exc).__name__}: {exc}>"
    return str(result)


class RemoteTools:
    """The worker's stand-in for the gateway's ``ToolManager`` (``RequestContext.tool_manager``):
    every call is decided and recorded by the gateway."""

    def __init__(self, link: Link, run: int) -> None:
        self.link = link
        self.run = run
        self.ctx: RequestContext | None = None

    def _call(self, kind: str, name: str, arguments: str, call_id: str) -> p.ToolCall:
        n = next(self.link.numbers)
        return p.ToolCall(
            run=self.run, n=n, kind=kind, name=name, arguments=arguments, call_id=call_id
        )

    def _settle(self, name: str, call_id: str, done: p.ToolDone) -> None:
        if done.outcome == "failed" and self.ctx is not None:
            self.ctx.tool_outcomes[call_id] = "failed"
        if done.abort_outcome is not None:
            raise ToolCallAborted(name, done.abort_outcome, done.text)

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
        del timeout_s  # the gateway times calls with its own settings
        call = self._call("sdk", name, arguments, call_id)
        self.link.invokes[call.n] = (invoke, reraise, contextvars.copy_context())
        try:
            done = await self.link.ask(call)
        except asyncio.CancelledError:
            if (task := self.link.execs.get(call.n)) is not None:
                task.cancel()  # the run went away: an async tool stops (a thread cannot)
            raise
        finally:
            self.link.invokes.pop(call.n, None)
            self.link.waits.pop(call.n, None)
        kept = self.link.kept.pop(call.n, _MISSING)
        if done.raise_original and isinstance(kept, BaseException):
            raise kept
        self._settle(name, call_id, done)
        plain = not isinstance(kept, dict | list | tuple | BaseException)
        if done.outcome == "completed" and kept is not _MISSING and plain:
            return kept  # as the tool returned it (an image output, a number…)
        return done.text

    async def call_gateway_tool(
        self, name: str, arguments: str, *, call_id: str, source: str = "gateway"
    ) -> str:
        del source
        done = await self.link.ask(self._call("gateway", name, arguments, call_id))
        self._settle(name, call_id, done)
        return done.text

    async def check_call(self, name: str) -> str | None:
        done = await self.link.ask(self._call("check", name, "", ""))
        return None if done.outcome == "completed" else done.text


class RemoteCaller:
    """The worker's ``ModelCaller``: the gateway makes the call and streams its events here."""

    def __init__(self, link: Link, run: int) -> None:
        self.link = link
        self.run = run
        self.label = link.label

    async def open(
        self, call: UpstreamCall, tally: CallTally, recorder: Any, hop: Callable[[], int]
    ) -> Any:
        del recorder, hop  # the gateway records and numbers its hops
        n = next(self.link.numbers)
        queue: asyncio.Queue[p.Message | None] = asyncio.Queue()
        self.link.model_calls[(self.run, n)] = queue
        body = msgspec.json.encode(call.body)
        self.link.out.send(p.ModelCall(run=self.run, call=n, api=call.api, body=body))
        finished = False
        try:
            while True:
                m = await queue.get()
                if isinstance(m, p.ModelEvents):
                    for data in m.data:
                        yield data
                elif isinstance(m, p.ModelEnd):
                    finished = True
                    tally.prompt_tokens = m.prompt_tokens
                    tally.completion_tokens = m.completion_tokens
                    return
                elif isinstance(m, p.ModelFailed):
                    finished = True
                    raise gateway_error(m.error)
        finally:
            self.link.model_calls.pop((self.run, n), None)
            if not finished:
                self.link.out.send(p.ModelStop(run=self.run, call=n))


def publish_gateway_tools(tools: list[tuple[str, str, dict[str, Any], bool]]) -> None:
    # ``use_gateway_tool`` at import looks up published specs; the functions stay in the gateway
    # (shared with the import probes).
    manager = ToolManager(max_threads=1)
    for name, description, parameters, strict in tools:
        manager.register(
            ToolSpec(name=name, description=description, parameters=parameters, strict=strict),
            _not_here,
        )
    manager.close()


def _not_here(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("gateway tools run in the gateway")


def _load(request: p.ProbeRequest) -> tuple[p.Message, Entry | None]:
    source = DropinSource(
        name=request.name,
        path=Path(request.path),
        folder=Path(request.folder) if request.folder else None,
    )
    try:
        loaded, entry = load_python(source)
    except DropinError as error:
        return p.LoadFailed(
            error_type=error.error_type, message=error.message, remediation=error.remediation
        ), None
    except MemoryError as exc:
        message = f"{type(exc).__name__} while importing (limit {request.memory_limit_mb} MB)"
        return p.LoadFailed(
            error_type="import_memory",
            message=message,
            remediation="Load less at import time, or raise LEDGERGATE_DROPIN_MEMORY_LIMIT_MB.",
        ), None
    except BaseException as exc:  # KeyboardInterrupt, SystemExit
        failure = classify(exc, source)
        return p.LoadFailed(
            error_type=failure.error_type,
            message=failure.message,
            remediation=failure.remediation,
        ), None
    description = (getattr(loaded.module, "__doc__", None) or "").strip().split("\n")[0]
    ready = p.Ready(
        kind=entry.kind,
        entrypoint=entry.entrypoint,
        tools=list(entry.tools),
        description=description,
    )
    return ready, entry


def _backend_of(request: p.ProbeRequest, entry: Entry) -> Callable[[ModelCaller], ChatBackend]:
    name, max_turns = request.name, request.max_turns
    if entry.kind == "agent_builder":
        run_workflow, input_type = entry.run_workflow, entry.input_type
        return lambda caller: WorkflowBackend(name, run_workflow, input_type, caller, max_turns)
    agent = entry.agent
    assert agent is not None
    return lambda caller: SdkBackend(name, agent, caller, max_turns)


async def _main(request: p.ProbeRequest, fd: int) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    out = Writer(writer)
    publish_gateway_tools(request.gateway_tools)
    hello, entry = _load(request)
    out.send(hello)
    if entry is None:
        await out.drain()
        return
    link = Link(out, _backend_of(request, entry))
    link.label = request.upstream_label
    await link.serve(reader)


def serve(request: p.ProbeRequest, fd: int) -> None:
    """Run as a worker until the gateway closes the socket; never returns."""
    code = 0
    try:
        os.chdir(request.cwd)
        os.environ.clear()
        os.environ.update(request.env)
        limit = request.memory_limit_mb * _MB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        asyncio.run(_main(request, fd))
    except BaseException:
        code = 70
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # threads a tool left running cannot keep the worker alive
