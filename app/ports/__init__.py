"""Ports: the Protocols services depend on; adapters implement them, ``app.main`` wires them."""

from __future__ import annotations

from app.ports.upstream import Upstream, UpstreamCall, UpstreamStatusError

__all__ = ("Upstream", "UpstreamCall", "UpstreamStatusError")
