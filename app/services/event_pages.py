"""Pages of the log for readers (the admin API, ``ledgergate events``), over the EventStore port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from domain.ports import EventStore, RecordedEvent


async def iter_events(
    store: EventStore,
    after: int = 0,
    stream: str | None = None,
    types: Sequence[str] | None = None,
    page: int = 1000,
) -> AsyncIterator[RecordedEvent]:
    """Every event with ``position > after``, optionally of one stream and/or some types."""
    if stream is not None:
        version = 0
        while batch := await store.read_stream(stream, version, page):
            version = batch[-1].version
            for rec in batch:
                if rec.position > after and (types is None or rec.type in types):
                    yield rec
        return
    while batch := await store.read_all(after, page, types):
        after = batch[-1].position
        for rec in batch:
            yield rec
