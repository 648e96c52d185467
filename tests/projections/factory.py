"""Realistic domain events for projection tests and the benchmark, appended through the port."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from domain import events as ev
from domain.ports import EventStore, NewEvent

_ids = itertools.count(1)


def new(event: ev.Event) -> NewEvent:
    return NewEvent.of(event, f"00000000-0000-7000-8000-{next(_ids):012d}")


def chat_request(
    request_id: str,
    *,
    model: str = "weather",
    key_id: str = "key-1",
    target: str = "agent",
    stream: bool = True,
    words: Sequence[str] = ("Hello", " world"),
    outcome: str = "completed",
    duration_us: int = 120_000,
    ttft_us: int = 30_000,
    tools: Sequence[tuple[str, str]] = (),
    denied_tool: str = "",
) -> list[ev.Event]:
    """One request's events in log order; ``tools`` is (tool name, outcome) per call."""
    out: list[ev.Event] = [
        ev.RequestReceived(
            request_id=request_id,
            key_id=key_id,
            model=model,
            stream=stream,
            target=target,
            body={
                "model": model,
                "messages": [{"role": "user", "content": "hi"}],
                "stream": stream,
            },
        ),
        ev.AclDecided(
            subject=key_id,
            action="use_agent",
            resource=model,
            decision="allow",
            rule="key.agents:*",
            request_id=request_id,
        ),
        ev.UpstreamCallStarted(
            request_id=request_id, hop=0, model="gpt-4o-mini", stream=True, upstream="scripted"
        ),
    ]
    if denied_tool:
        out.append(
            ev.AclDecided(
                subject=key_id,
                action="call_tool",
                resource=denied_tool,
                decision="deny",
                rule="key.tools:[]",
                request_id=request_id,
                agent=model,
            )
        )
    for n, (tool, result) in enumerate(tools):
        call_id = f"call_{n}"
        out.append(
            ev.ToolInvoked(
                call_id=call_id,
                tool=tool,
                source="gateway",
                agent=model,
                arguments="{}",
                request_id=request_id,
            )
        )
        if result == "ok":
            out.append(
                ev.ToolCompleted(
                    call_id=call_id,
                    tool=tool,
                    source="gateway",
                    agent=model,
                    duration_us=2_000 + n,
                    result='"ok"',
                    request_id=request_id,
                )
            )
        else:
            out.append(
                ev.ToolFailed(
                    call_id=call_id,
                    tool=tool,
                    source="gateway",
                    agent=model,
                    duration_us=1_000,
                    outcome=result,  # type: ignore[arg-type]
                    error_type=result,
                    message="no",
                    request_id=request_id,
                )
            )
    out.append(
        ev.UpstreamCallCompleted(
            request_id=request_id,
            hop=0,
            duration_us=90_000,
            finish_reason="stop",
            prompt_tokens=12,
            completion_tokens=len(words),
            ttft_us=ttft_us,
        )
    )
    if stream:
        out.append(ev.StreamDelta(seq=0, delta={"role": "assistant", "content": ""}))
        out.extend(ev.StreamDelta(seq=i + 1, delta={"content": w}) for i, w in enumerate(words))
        out.append(ev.StreamDelta(seq=len(words) + 1, delta={}, finish_reason="stop"))
    if outcome == "completed":
        message = None if stream else {"role": "assistant", "content": "".join(words)}
        out.append(
            ev.RequestCompleted(
                request_id=request_id,
                created=1_790_000_000,
                model=model,
                finish_reason="stop",
                duration_us=duration_us,
                ttft_us=ttft_us if stream else 0,
                prompt_tokens=12,
                completion_tokens=len(words),
                message=message,
            )
        )
    elif outcome == "failed":
        out.append(
            ev.RequestFailed(
                request_id=request_id,
                status=502,
                error_type="upstream_error",
                code="upstream_error",
                message="boom",
                duration_us=duration_us,
            )
        )
    elif outcome == "cancelled":  # "open": no terminal event yet
        out.append(
            ev.RequestCancelled(
                request_id=request_id, reason="client_disconnected", duration_us=duration_us
            )
        )
    return out


def scan(scan_id: str, loaded: Sequence[str], failed: Sequence[str]) -> list[ev.Event]:
    out: list[ev.Event] = [ev.ScanStarted(scan_id=scan_id, roots=["src/agents"], reason="startup")]
    for name in loaded:
        out.append(
            ev.AgentLoaded(
                scan_id=scan_id,
                name=name,
                path=f"src/agents/{name}",
                kind="sdk",
                entrypoint="agent",
                digest="d" * 64,
                tools=["get_weather"],
            )
        )
    for name in failed:
        out.append(
            ev.DropinFailed(
                scan_id=scan_id,
                name=name,
                path=f"src/agents/{name}",
                kind="agent",
                error_type="import_error",
                message="No module named 'nope'",
                remediation="pip install nope",
            )
        )
    out.append(ev.ScanCompleted(scan_id=scan_id, loaded=len(loaded), failed=len(failed)))
    return out


async def append(store: EventStore, stream: str, events: Sequence[ev.Event]) -> int:
    positions = await store.append(stream, [new(e) for e in events])
    return positions[-1]


async def append_request(store: EventStore, request_id: str, **kw: object) -> int:
    return await append(store, ev.request_stream(request_id), chat_request(request_id, **kw))
