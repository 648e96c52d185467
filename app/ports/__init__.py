"""Ports: the interfaces services and routes depend on; adapters implement them, ``app.main`` wires.

- ``upstream.Upstream``: the upstream model API (``app.adapters.upstream``).
- ``chat_backend.ChatBackend``: whatever answers a chat request (passthrough, declarative
  agents, Agents SDK drop-ins), with the ``ChatRequest`` and ``Delta`` types it speaks.
- ``request_context.RequestContext``: the request travelling into tools and nested runs.
- ``recorder.Recorder``: one request's event stream.
- ``discovery.DropinScanner``: drop-in scans (``app.adapters.discovery``).
- ``log_export.LogExport``: the log's exported JSON Lines (``app.adapters.eventstore.export``).
- ``EventStore``: the log itself, defined in ``domain.ports`` (the projections use it too) and
  re-exported here so this package lists every port.
"""

from __future__ import annotations

from app.ports.chat_backend import ChatBackend, ChatRequest, Delta
from app.ports.discovery import DropinScanner, ScanReport
from app.ports.log_export import LogExport
from app.ports.recorder import Recorder
from app.ports.request_context import RequestContext, current_request
from app.ports.upstream import Upstream, UpstreamCall, UpstreamStatusError
from domain.ports import EventStore

__all__ = (
    "ChatBackend",
    "ChatRequest",
    "Delta",
    "DropinScanner",
    "EventStore",
    "LogExport",
    "Recorder",
    "RequestContext",
    "ScanReport",
    "Upstream",
    "UpstreamCall",
    "UpstreamStatusError",
    "current_request",
)
