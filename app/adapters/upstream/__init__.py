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


def named_proxy(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url``'s scheme (``HTTP_PROXY``/``HTTPS_PROXY``,
    else ``ALL_PROXY``), read as httpx2 reads it (``urllib.request.getproxies``), ``NO_PROXY``
    not applied: httpx2 offers no public way to ask whether it exempts a URL, and its rules
    differ from urllib's (docs/operations.md), so that decision is left to httpx2 itself."""
    proxies = urllib.request.getproxies()
    return proxies.get(urlsplit(base_url).scheme) or proxies.get("all") or None


def upstream_transport(settings: Settings) -> httpx2.AsyncBaseTransport | None:
    """``None`` (httpx2's stock transport, which honours the environment's proxies) unless
    ``fast`` is asked for and no proxy is named for the upstream's scheme: then the asyncio +
    httptools transport. Logs one line saying which, and why."""
    setting = f"LEDGERGATE_UPSTREAM_TRANSPORT={settings.upstream_transport}"
    if settings.upstream_transport != "fast":
        why = "the default" if settings.upstream_transport == "stock" else "the old name of stock"
        log.info("upstream transport: httpx2's stock (%s, %s)", setting, why)
        return None
    scheme = urlsplit(settings.upstream_base_url).scheme
    if named_proxy(settings.upstream_base_url) is not None:
        log.info(
            "upstream transport: httpx2's stock, not fast (%s): the environment names a proxy "
            "for %s://, which httpx2 applies (or skips, by NO_PROXY) itself",
            setting,
            scheme,
        )
        return None
    log.info(
        "upstream transport: fast, asyncio + httptools (%s, no proxy for %s://)", setting, scheme
    )
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
