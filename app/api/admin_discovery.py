"""``POST /admin/discovery/scan``: rescan the drop-in roots now (admin key)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import post
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from app.api.auth import ADMIN
from app.errors import GatewayError
from app.ports.discovery import DropinScanner


@post("/admin/discovery/scan", status_code=200, guards=ADMIN)
async def scan(discovery: NamedDependency[SkipValidation[DropinScanner | None]]) -> dict[str, Any]:
    if discovery is None:
        raise GatewayError("Discovery is not running.", code="discovery_unavailable")
    report = await discovery.scan("admin")
    return {
        "object": "discovery.scan",
        "scan_id": report.scan_id,
        "loaded": [msgspec.to_builtins(e) for e in report.loaded],
        "failed": [msgspec.to_builtins(e) for e in report.failed],
        "unloaded": [msgspec.to_builtins(e) for e in report.unloaded],
        "unchanged": report.unchanged,
    }


ROUTES = [scan]
