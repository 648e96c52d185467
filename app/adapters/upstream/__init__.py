"""The upstream adapter: ``HttpUpstream`` on a real API, or on the offline scripted transport."""

from __future__ import annotations

import logging
import urllib.request
from urllib.parse import urlsplit

import httpx2

from app.adapters.upstream.http import LIMITS, Deadlines, HttpUpstream
from app.adapters.upstream.scripted import ScriptedTransport
from app.adapters.upstream.transport import FastHTTPTransport
from app.settings import Settings

__all__ = (
    "Deadlines",
    "HttpUpstream",
    "ScriptedTransport",
    "build_upstream",
    "proxied",
    "upstream_transport",
)

SCRIPTED_BASE_URL = "http://scripted.invalid/v1"

log = logging.getLogger(__name__)


def _label(base_url: str) -> str:
    """``scheme://host[:port]`` of ``base_url``: never user info, path or query."""
    parts = urlsplit(base_url)
    host = parts.hostname or "unknown"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'https'}://{host}{port}"


def proxied(base_url: str) -> bool:
    """Whether the environment (``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` less ``NO_PROXY``)
    sends requests to ``base_url`` through a proxy."""
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def upstream_transport(settings: Settings) -> httpx2.AsyncBaseTransport | None:
    """The asyncio + httptools transport, unless httpx2's own is asked for or a proxy applies to
    the upstream: then ``None``, httpx2's stock transport, which routes through the proxy."""
    if settings.upstream_transport == "httpx":
        log.info("upstream transport: httpx2's own (LEDGERGATE_UPSTREAM_TRANSPORT=httpx)")
        return None
    if proxied(settings.upstream_base_url):
        log.info("upstream transport: httpx2's own, through the proxy the environment names")
        return None
    return FastHTTPTransport(limits=LIMITS)


def build_upstream(settings: Settings) -> HttpUpstream:
    """The scripted upstream when no key is configured, else the configured API over HTTP."""
    deadlines = Deadlines(
        operation_s=settings.upstream_timeout_s,
        idle_s=settings.upstream_idle_timeout_s,
        total_s=settings.upstream_total_timeout_s,
    )
    if settings.scripted_upstream or settings.upstream_api_key is None:
        return HttpUpstream(
            base_url=SCRIPTED_BASE_URL,
            api_key="scripted",
            label="scripted",
            models=settings.upstream_models,
            deadlines=deadlines,
            transport=ScriptedTransport(),
            scripted=True,
            responses_api=settings.upstream_api != "chat_completions",
        )
    return HttpUpstream(
        base_url=settings.upstream_base_url,
        api_key=settings.upstream_api_key,
        label=_label(settings.upstream_base_url),
        models=settings.upstream_models,
        deadlines=deadlines,
        transport=upstream_transport(settings),
        responses_api=settings.upstream_api != "chat_completions",
    )
