"""Learn that the process was asked to stop (SIGINT, SIGTERM) without taking the signal over.

uvicorn handles both signals by waiting for open connections to finish. A live tail
(``GET /admin/events/stream``) never finishes by itself, so its generator must hear of the stop
to end its response: the handler uvicorn installed is chained, not replaced.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def on_exit_signal(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` on SIGINT/SIGTERM, then the handler that was there; returns an undo.

    Only the main thread may set signal handlers: elsewhere (a server run in a test thread)
    this does nothing and the undo is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {}

    def chained(signum: int, frame: FrameType | None) -> None:
        callback()
        before = previous.get(signum)
        if callable(before):
            before(signum, frame)
        elif before == signal.SIG_DFL and signum == signal.SIGINT:
            raise KeyboardInterrupt

    for sig in SIGNALS:
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, chained)

    def undo() -> None:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is chained:
                signal.signal(sig, handler)

    return undo
