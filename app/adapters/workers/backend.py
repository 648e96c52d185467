"""``WorkerBackend``: an SDK drop-in's chat backend whose runs happen in its worker process.

The gateway keeps what must be trusted. For each run it sends the request to the worker and
yields the deltas the worker streams back; meanwhile it serves the run's calls: a model call is
made here with ``recorded_call`` (the upstream key and ``upstream.call_*`` stay in the gateway)
and its events are streamed to the worker; a tool call goes through the request's
``ToolManager`` here (the access decision, ``acl.decided`` and ``tool.*`` are the gateway's),
with the tool's own code run in the worker once allowed; ``use_gateway_tool`` runs here.
Closing the delta iterator (the client went away) cancels the run in the worker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from app.adapters.workers import protocol as p
from app.adapters.workers.frames import error_fields, gateway_error
from app.adapters.workers.supervisor import Channel, DropinWorker, WorkerGone, crashed
from app.errors import BadRequest, GatewayError
from app.ports.chat_backend import ChatRequest, Delta
from app.ports.request_context import RequestContext, current_request
from app.ports.upstream import Upstream, UpstreamCall
from app.services.tools import ToolCallAborted, ToolRaised
from app.services.upstream_calls import CallTally, recorded_call


class _Stops(ToolRaised):
    """The tool raised an Agents SDK exception meant to stop the run (re-raised in the worker)."""


class _RunCalls:
    """The gateway's half of one run: its model calls and tool calls."""

    def __init__(self, upstream: Upstream, ctx: RequestContext) -> None:
        self.upstream = upstream
        self.ctx = ctx
        self.channel: Channel | None = None
        self.hops = 0

    def _send(self, message: p.Message) -> None:
        assert self.channel is not None
        self.channel.conn.out.send(message)

    async def model_call(self, m: p.ModelCall) -> None:
        try:
            try:
                body = msgspec.json.decode(m.body)
            except msgspec.DecodeError as exc:
                raise BadRequest("The agent's model request is not JSON.") from exc
            call = UpstreamCall(api="responses" if m.api == "responses" else "chat", body=body)
            self.hops += 1
            tally = CallTally()
            events = recorded_call(
                self.upstream,
                self.ctx.recorder,
                call,
                hop=self.hops,
                tally=tally,
                record_cancel=False,  # see recorded_call: the run may end before its calls
            )
            async for data, _payload in events:
                self._send(p.ModelEvents(run=m.run, call=m.call, data=[data]))
            self._send(
                p.ModelEnd(
                    run=m.run,
                    call=m.call,
                    prompt_tokens=tally.prompt_tokens,
                    completion_tokens=tally.completion_tokens,
                )
            )
        except GatewayError as exc:
            self._send(p.ModelFailed(run=m.run, call=m.call, error=error_fields(exc)))

    async def tool_call(self, m: p.ToolCall) -> None:
        manager = self.ctx.tool_manager
        if manager is None:
            text = f"Tool '{m.name}' is not allowed outside a gateway request."
            self._send(p.ToolDone(n=m.n, text=text, outcome="failed"))
            return
        try:
            if m.kind == "check":
                denial = await manager.check_call(m.name)
                outcome = "completed" if denial is None else "failed"
                self._send(p.ToolDone(n=m.n, text=denial or "", outcome=outcome))
                return
            if m.kind == "gateway":
                text = await manager.call_gateway_tool(
                    m.name, m.arguments, call_id=m.call_id, source="gateway"
                )
            else:
                text = await manager.call_sdk_tool(
                    m.name,
                    m.arguments,
                    call_id=m.call_id,
                    invoke=lambda: self._invoke(m.n),
                    reraise=(_Stops,),
                )
        except _Stops:
            self._send(p.ToolDone(n=m.n, outcome="failed", raise_original=True))
            return
        except ToolCallAborted as exc:
            self._send(
                p.ToolDone(n=m.n, text=exc.message, outcome="failed", abort_outcome=exc.outcome)
            )
            return
        outcome = self.ctx.outcome(m.call_id)
        self._send(p.ToolDone(n=m.n, text=str(text), outcome=outcome))

    async def _invoke(self, n: int) -> str:
        """Run the allowed tool in the worker; what it returned, or its exception here."""
        assert self.channel is not None
        conn = self.channel.conn
        result = conn.exec_future(n)
        if not conn.dead:
            conn.out.send(p.ToolExec(n=n))
        try:
            answer = await result
        except WorkerGone:
            raise ToolRaised("dropin_crashed", "the drop-in's worker process ended") from None
        if answer.error_type is not None:
            raise (_Stops if answer.reraise else ToolRaised)(answer.error_type, answer.text)
        return answer.text


class WorkerBackend:
    """Runs a drop-in (an SDK agent or an Agent Builder workflow) in its worker process."""

    def __init__(self, name: str, worker: DropinWorker, upstream: Upstream) -> None:
        self.name = name
        self.worker = worker
        self.upstream = upstream

    async def run(self, request: ChatRequest, ctx: RequestContext) -> AsyncIterator[Delta]:
        if current_request.get() is not ctx:
            current_request.set(ctx)  # the ToolManager reads the caller from here
        conn = await self.worker.connection()
        calls = _RunCalls(self.upstream, ctx)
        try:
            channel = conn.open_run(calls)
        except WorkerGone:
            raise crashed(self.name) from None
        calls.channel = channel
        ended = False
        try:
            start = p.RunStart(
                run=channel.run,
                request=request,
                request_id=ctx.request_id,
                agent=ctx.agent or self.name,
                agent_tools=list(ctx.agent_tools),
            )
            try:
                conn.out.send(start)
            except msgspec.EncodeError as exc:  # msgpack holds integers up to 64 bits only
                ended = True
                raise BadRequest(
                    "The request holds a number too large for the agent to take."
                ) from exc
            while True:
                m = await channel.queue.get()
                if isinstance(m, p.Deltas):
                    for delta in m.items:
                        yield delta
                elif isinstance(m, p.RunEnded):
                    ended = True
                    return
                elif isinstance(m, p.RunFailed):
                    ended = True
                    raise gateway_error(m.error)
                elif m is None:
                    ended = True
                    raise crashed(self.name)
        finally:
            await channel.close(cancel=not ended)
