"""The upstream Chat Completions client: a real ``AsyncOpenAI`` or the offline scripted one."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2
import openai

from app.adapters.upstream.errors import translate
from app.adapters.upstream.scripted import ScriptedTransport
from app.adapters.upstream.transport import FastHTTPTransport
from app.settings import Settings

__all__ = ("ScriptedTransport", "Upstream", "build_upstream", "translate")

SCRIPTED_BASE_URL = "http://scripted.invalid/v1"


@dataclass(slots=True)
class Upstream:
    """The one upstream client a process shares, with what the log may say about it."""

    client: openai.AsyncOpenAI
    label: str
    scripted: bool
    models: tuple[str, ...]

    def allows_model(self, model: str) -> bool:
        """Whether ``model`` may be called directly (passthrough), by the configured globs."""
        return any(fnmatch.fnmatchcase(model, glob) for glob in self.models)

    async def close(self) -> None:
        await self.client.close()


def _label(base_url: str) -> str:
    """``scheme://host[:port]`` of ``base_url``: never user info, path or query."""
    parts = urlsplit(base_url)
    host = parts.hostname or "unknown"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'https'}://{host}{port}"


def build_upstream(settings: Settings, *, httpcore: bool = False) -> Upstream:
    """The scripted upstream when no key is configured, else a pooled real client.

    ``httpcore``: the stock httpx2 transport instead of ``FastHTTPTransport`` (tests, bench).
    """
    if settings.scripted_upstream:
        client = openai.AsyncOpenAI(
            api_key="scripted",
            base_url=SCRIPTED_BASE_URL,
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=ScriptedTransport()),
        )
        return Upstream(client, "scripted", True, settings.upstream_models)
    timeout = httpx2.Timeout(
        settings.upstream_timeout_s, connect=min(10.0, settings.upstream_timeout_s)
    )
    # Many concurrent long-lived streams: a roomy pool, keep-alive so calls reuse connections.
    limits = httpx2.Limits(
        max_connections=512, max_keepalive_connections=128, keepalive_expiry=30.0
    )
    transport = None if httpcore else FastHTTPTransport(limits=limits)
    http_client = openai.DefaultAsyncHttpxClient(
        limits=limits, timeout=timeout, transport=transport
    )
    client = openai.AsyncOpenAI(
        api_key=settings.upstream_api_key,
        base_url=settings.upstream_base_url,
        timeout=timeout,
        max_retries=0,
        http_client=http_client,
    )
    return Upstream(client, _label(settings.upstream_base_url), False, settings.upstream_models)
