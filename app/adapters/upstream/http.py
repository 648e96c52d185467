"""``HttpUpstream``: the upstream port over httpx2's public API, with two deadlines.

Each call is one ``POST {base}/chat/completions`` or ``POST {base}/responses`` carrying the
caller's body as JSON bytes; the answer is split into SSE events by our small parser
(``sse.SSEFrames``) and each event's ``data`` is handed on as it arrives. httpx2's own timeouts
bound each connect, write and socket read; on top of them:

- the idle deadline (``upstream_idle_timeout_s``): the longest the upstream may go without
  a complete SSE event (or, before it answers, without its response headers). An upstream that
  trickles bytes or sends only keep-alive comments resets httpx2's read timeout forever; it
  does not reset this one.
- the overall deadline (``upstream_total_timeout_s``): the longest one call may take, however
  steadily events arrive.

Every failure leaves as a ``GatewayError`` (``errors``), mapped here once, by exception type.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

import httpx2
import msgspec

from app.adapters.upstream.failures import bad_response, status_error, transport_error
from app.adapters.upstream.sse import SSEFrames
from app.errors import GatewayError, UpstreamTimeout
from app.ports.upstream import PATHS, UpstreamCall

_DONE = b"[DONE]"

# Many concurrent long-lived streams: a roomy pool, keep-alive so calls reuse connections.
LIMITS = httpx2.Limits(max_connections=512, max_keepalive_connections=128, keepalive_expiry=30.0)


@dataclass(frozen=True, slots=True)
class Deadlines:
    """httpx2's per-operation timeout, the idle deadline and the overall deadline, in seconds."""

    operation_s: float = 60.0
    idle_s: float = 60.0
    total_s: float = 600.0


class HttpUpstream:
    """An OpenAI-compatible upstream reached over HTTP (or through ``transport``)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        label: str,
        models: tuple[str, ...],
        deadlines: Deadlines,
        transport: httpx2.AsyncBaseTransport | None = None,
        scripted: bool = False,
        responses_api: bool = True,
    ) -> None:
        self.label = label
        self.scripted = scripted
        # False with LEDGERGATE_UPSTREAM_API=chat_completions: no Responses call ever leaves.
        self.responses_api = responses_api
        self.models = models
        # The globs as one pattern, as fnmatchcase would match each (asked on every request).
        self._models_match = re.compile("|".join(map(fnmatch.translate, models)) or "(?!)").match
        self.deadlines = deadlines
        timeout = httpx2.Timeout(deadlines.operation_s, connect=min(10.0, deadlines.operation_s))
        self._timeout = timeout.as_dict()
        # trust_env (the default): HTTP_PROXY/HTTPS_PROXY/ALL_PROXY/NO_PROXY are honoured by the
        # stock transport. A custom ``transport`` is used as given (see ``build_upstream``).
        self.client = httpx2.AsyncClient(timeout=timeout, limits=LIMITS, transport=transport)
        base = base_url.rstrip("/")
        self._urls = {api: httpx2.URL(base + path) for api, path in PATHS.items()}
        self._models_url = httpx2.URL(base + "/models")
        self._headers = [
            (b"authorization", f"Bearer {api_key}".encode()),
            (b"content-type", b"application/json"),
            (b"accept", b"application/json, text/event-stream"),
            (b"user-agent", b"ledgergate"),
        ]

    def allows_model(self, model: str) -> bool:
        """Whether ``model`` may be called directly (passthrough), by the configured globs."""
        return self._models_match(model) is not None

    async def send(self, call: UpstreamCall) -> AsyncGenerator[bytes, None]:
        if call.api == "responses" and not self.responses_api:
            raise GatewayError(
                "LEDGERGATE_UPSTREAM_API=chat_completions: the gateway does not call the "
                "upstream's Responses API.",
                code="responses_api_disabled",
                status=501,
                error_type="server_error",
            )
        request = httpx2.Request(
            "POST",
            self._urls[call.api],
            headers=self._headers,
            content=msgspec.json.encode(call.body),
            extensions={"timeout": self._timeout},
        )
        loop = asyncio.get_running_loop()
        idle_s = self.deadlines.idle_s
        end = loop.time() + self.deadlines.total_s
        response: httpx2.Response | None = None
        try:
            # One deadline for the headers and, non-streamed, the body (restarted in between):
            # each deadline is a timer and a context, ~38 k instructions (docs/performance.md).
            async with asyncio.timeout_at(min(loop.time() + idle_s, end)) as deadline:
                response = await self.client.send(request, stream=True)
                if response.status_code >= 400:
                    raise status_error(response.status_code, await response.aread())
                if not call.stream:
                    deadline.reschedule(min(loop.time() + idle_s, end))
                    body = await response.aread()
            if not call.stream:
                yield body  # outside the deadline: it must not fire while the caller works
                return
            frames = SSEFrames()
            chunks = response.aiter_bytes()
            until = min(loop.time() + idle_s, end)
            while True:
                async with asyncio.timeout_at(until):
                    raw = await anext(chunks, None)
                events = frames.close() if raw is None else frames.feed(raw)
                for data in events:
                    if data.startswith(_DONE):
                        if response.http_version == "HTTP/1.1":
                            await _drain(chunks, min(loop.time() + idle_s, end))
                        return
                    yield data
                if raw is None:
                    return
                if events:
                    until = min(loop.time() + idle_s, end)
        except TimeoutError as exc:
            raise self._deadline_error(loop.time() >= end) from exc
        except httpx2.HTTPError as exc:
            raise transport_error(exc, begun=response is not None) from exc
        finally:
            if response is not None:
                # Closing the response closes the upstream connection (a cancelled call too).
                await response.aclose()

    def _deadline_error(self, overall: bool) -> UpstreamTimeout:
        if overall:
            return UpstreamTimeout(
                f"The upstream did not finish within {self.deadlines.total_s:g} s."
            )
        return UpstreamTimeout(f"The upstream sent nothing for {self.deadlines.idle_s:g} s.")

    async def model_ids(self, timeout_s: float) -> list[str]:
        request = httpx2.Request(
            "GET",
            self._models_url,
            headers=self._headers,
            extensions={"timeout": httpx2.Timeout(timeout_s).as_dict()},
        )
        try:
            response = await self.client.send(request)
        except httpx2.HTTPError as exc:
            raise transport_error(exc, begun=False) from exc
        if response.status_code >= 400:
            raise status_error(response.status_code, response.content)
        try:
            listed = msgspec.json.decode(response.content)
        except msgspec.DecodeError as exc:
            raise bad_response() from exc
        data = listed.get("data") if isinstance(listed, dict) else None
        return [str(m["id"]) for m in data or () if isinstance(m, dict) and "id" in m]

    async def close(self) -> None:
        await self.client.aclose()


async def _drain(chunks: AsyncIterator[bytes], until: float) -> None:
    """Read what follows ``[DONE]`` so the connection can go back to the pool. The answer is
    complete: an upstream that keeps the body open past the idle deadline, or breaks it, only
    costs the connection (closing the response closes it), never the call."""
    with contextlib.suppress(TimeoutError, httpx2.HTTPError):
        async with asyncio.timeout_at(until):
            async for _rest in chunks:
                pass
