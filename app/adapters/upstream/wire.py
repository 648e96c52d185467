"""Raw Chat Completions calls through an ``AsyncOpenAI`` client's own httpx2 client.

The SDK's ``chat.completions.create`` walks every message through its TypedDict transform and
builds a pydantic model per streamed chunk; at gateway rates that was most of the event loop.
Here the SDK builds the request once per client (URL, auth and SDK headers, timeout: exactly what
it would send), and each call sends the client's body as JSON bytes on the same
``httpx2.AsyncClient``, so its connection pool and transport (the offline scripted one included)
stay in use. Failures are raised as the SDK raises them (``APIStatusError`` from the SDK's own
status-error factory, ``APITimeoutError``, ``APIConnectionError`` from the httpx2 error), so
``translate`` maps them exactly as before.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any

import httpx2
import msgspec
import openai
from openai._base_client import get_platform
from openai._httpx2 import request_exceptions, timeout_exceptions
from openai._models import FinalRequestOptions

_PATH = "/chat/completions"


@dataclass(frozen=True, slots=True)
class _Template:
    """What the SDK would put on every chat-completions request of one client."""

    api_key: str
    url: httpx2.URL
    headers: list[tuple[bytes, bytes]]
    extensions: dict[str, Any]


_templates: weakref.WeakKeyDictionary[openai.AsyncOpenAI, _Template] = weakref.WeakKeyDictionary()


async def _template(client: openai.AsyncOpenAI) -> _Template:
    template = _templates.get(client)
    if template is not None and template.api_key == client.api_key:
        return template
    if client._platform is None:
        # The SDK detects the platform (blocking file reads) off the loop on its first request.
        client._platform = await asyncio.to_thread(get_platform)
    options = FinalRequestOptions(method="post", url=_PATH, json_data={})
    built = client._build_request(options)
    # The body, hence its length, is per call; httpx2 sets Content-Length from the content.
    headers = [(k, v) for k, v in built.headers.raw if k.lower() != b"content-length"]
    template = _Template(client.api_key, built.url, headers, dict(built.extensions))
    _templates[client] = template
    return template


def sdk_error(exc: Exception, request: httpx2.Request) -> Exception | None:
    """The SDK's exception for an httpx2 failure (as its ``request`` and ``AsyncStream`` raise
    them: the httpx2 error as the cause), or ``None`` when ``exc`` is not one."""
    if isinstance(exc, timeout_exceptions()):
        return openai.APITimeoutError(request=request)
    if isinstance(exc, request_exceptions()):
        return openai.APIConnectionError(request=request)
    return None


async def send(client: openai.AsyncOpenAI, body: dict[str, Any]) -> httpx2.Response:
    """POST ``body`` to ``/chat/completions``; the response's headers are in, its body is not.

    A non-2xx answer is read, closed and raised as the SDK's ``APIStatusError``.
    """
    template = await _template(client)
    request = httpx2.Request(
        "POST",
        template.url,
        headers=template.headers,
        content=msgspec.json.encode(body),
        extensions=dict(template.extensions),
    )
    try:
        response = await client._client.send(request, stream=True)
        if response.status_code >= 400:
            try:
                await response.aread()
            finally:
                await response.aclose()
    except Exception as exc:
        error = sdk_error(exc, request)
        if error is None:
            raise
        raise error from exc
    if response.status_code >= 400:
        raise client._make_status_error_from_response(response) from None
    return response
