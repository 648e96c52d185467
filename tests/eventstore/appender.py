"""A writer process for the multi-process tests: appends, printing each acknowledged position.

Usage: ``python -m tests.eventstore.appender URL TAG BATCHES [TASKS]`` (BATCHES 0 = forever).
"""

from __future__ import annotations

import asyncio
import itertools
import sys

from app.adapters.eventstore import open_event_store
from app.ids import uuid7
from app.settings import Settings
from domain.ports import NewEvent


async def main(url: str, tag: str, batches: int, tasks: int) -> None:
    store = await open_event_store(Settings(database_url=url))
    counter = itertools.count() if batches == 0 else iter(range(batches))

    async def appender(n: int) -> None:
        for i in counter:
            size = 1 + i % 3
            events = [
                NewEvent(uuid7(), "stream.delta", 1, b'{"seq":%d,"delta":{"content":"x"}}' % k)
                for k in range(size)
            ]
            positions = await store.append(f"{tag}:{n}", events)
            sys.stdout.write(" ".join(map(str, positions)) + "\n")
            sys.stdout.flush()

    await asyncio.gather(*(appender(n) for n in range(tasks)))
    await store.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], int(args[2]), int(args[3]) if len(args) > 3 else 4))
