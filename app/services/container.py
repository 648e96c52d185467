"""The services one process holds, built by ``app.main`` and reached by routes via app state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.settings import Settings
from domain.ports import EventStore


@dataclass(slots=True)
class Services:
    """Everything the routes need, built once per process in the lifespan."""

    settings: Settings
    store: EventStore


def services_of(request: Any) -> Services:
    """The Services of the app serving ``request`` (a Litestar ``Request``)."""
    services: Services = request.app.state.services
    return services
