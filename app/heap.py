"""The cyclic garbage collector, told once per process that start-up is done.

A full collection scans every object the process holds. After start-up that is hundreds of
thousands of objects (SQLAlchemy, alembic, psycopg, Litestar, the Agents SDK when a drop-in
loads it), and what requests keep in flight for a while (events, batches, futures) survives the
young generations, so full collections come every few thousand logged events and each walks the
whole heap: ~50 ms apiece, a fifth of the log's time at 100 appenders (docs/performance.md).
``gc.freeze()`` moves everything alive at that moment to a permanent generation that collections
skip. The cost: a reference cycle among those objects is no longer collected, and they were
made to live as long as the process anyway.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then freeze what is left; only the first call in a process does anything
    (tests start many gateways in one process: later heaps stay collectable)."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()
