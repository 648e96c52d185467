"""The services routes receive, by name, through Litestar's dependency injection.

``app.main`` builds one ``Services`` per process in the lifespan and puts it on the app's state;
``dependencies()`` provides each of its fields under the field's name, so a route declares what
it uses (``chat: NamedDependency[ChatService | None]``) instead of reaching into app state.
``projections`` and ``audit`` are required where they are declared: without them the route
answers 503 (guards run first, so a caller without the right key still gets 401/403).
Guards and middleware run outside dependency injection and use ``services(connection)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from litestar.di import Provide

from app.errors import GatewayError
from app.services.container import Services

UNAVAILABLE: dict[str, tuple[str, str]] = {
    "projections": ("The read models are not available.", "projections_unavailable"),
    "audit": ("Audit is not available.", "audit_unavailable"),
}


def services(connection: Any) -> Services:
    """The Services of the app serving ``connection`` (for guards and middleware)."""
    held: Services = connection.app.state.services
    return held


def _provider(current: Callable[[], Services], name: str) -> Callable[[], Any]:
    missing = UNAVAILABLE.get(name)

    # No parameters: Litestar then calls the provider without building kwargs for it.
    def provide() -> Any:
        value = getattr(current(), name)
        if value is None and missing is not None:
            raise GatewayError(missing[0], code=missing[1], status=503)
        return value

    provide.__name__ = f"provide_{name}"
    return provide


def dependencies(current: Callable[[], Services]) -> dict[str, Provide]:
    """One named dependency per ``Services`` field (``chat``, ``keys``, ``store``, ``settings``…).

    ``current`` returns the process's Services (built in the lifespan, before any request).
    A route that declares two or more is resolved in an anyio task group (about 0.2 ms a
    request on the shared machine); the hot routes (chat, responses) declare one.
    """
    return {
        f.name: Provide(_provider(current, f.name), sync_to_thread=False) for f in fields(Services)
    }
