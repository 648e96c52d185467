"""The read models this code base ships, by name."""

from __future__ import annotations

from collections.abc import Iterable

from projections.acl import AclProjection
from projections.base import Projection
from projections.discovery import DiscoveryProjection
from projections.log import LogProjection
from projections.requests import RequestsProjection
from projections.tools import ToolsProjection

PROJECTIONS: dict[str, type[Projection]] = {
    cls.name: cls
    for cls in (
        RequestsProjection,
        ToolsProjection,
        DiscoveryProjection,
        AclProjection,
        LogProjection,
    )
}


class UnknownProjection(LookupError):
    """A projection name this code base does not ship."""


def make_projections(names: Iterable[str] | None = None) -> list[Projection]:
    """Fresh instances of the named projections (all of them by default)."""
    chosen = list(PROJECTIONS) if names is None else list(names)
    unknown = [n for n in chosen if n not in PROJECTIONS]
    if unknown:
        raise UnknownProjection(", ".join(unknown))
    return [PROJECTIONS[n]() for n in chosen]
