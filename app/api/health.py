"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Response


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz")
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    services = request.app.state.get("services")
    if services is None:
        return Response({"status": "starting"}, status_code=503)
    head = await services.store.head()
    body: dict[str, Any] = {"status": "ready", "log_head": head}
    unavailable = getattr(services.store, "unavailable", None)
    if unavailable is not None:  # disk full, read-only: requests get 503 until a write succeeds
        body.update(status="log_unavailable", reason=unavailable)
        return Response(body, status_code=503, headers={"retry-after": "2"})
    projections = getattr(services, "projections", None)
    if projections is not None:
        state = projections.health()
        if state["enabled"]:
            state["lag"] = max(head - state["position"], 0)
        body["projections"] = state
        if state["enabled"] and not state["running"]:  # a stalled runner must be visible
            body["status"] = "degraded"
            return Response(body, status_code=503)
    return Response(body, status_code=200)


ROUTES = [healthz, readyz]
