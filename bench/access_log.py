"""``python -m bench.access_log``: what the serving terminal's access line costs per request.

The access middleware around a trivial ASGI app that answers at once, against the bare app,
side by side in one run (ratios, not absolutes: the machine may be shared). The log handler is
the gateway's own (``levelname:     message``) writing to ``/dev/null``, so the figure is the
logging work, not a terminal's speed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from app.api.access import AccessLogMiddleware

SCOPE = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
HEADERS = [(b"x-request-id", b"chatcmpl-0123456789abcdef0123456789abcdef")]


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"{}"})


async def _send(message: Any) -> None:
    return None


async def _receive() -> Any:
    return {"type": "http.request"}


async def _per_request_us(app: Any, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await app(dict(SCOPE), _receive, _send)
    return (time.perf_counter() - started) / n * 1e6


def _log_to_devnull() -> None:
    logger = logging.getLogger("app")
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 (process lifetime)
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


async def main(n: int = 50_000, rounds: int = 3) -> None:
    wrapped = AccessLogMiddleware(_app)
    for _ in range(rounds):
        bare = await _per_request_us(_app, n)
        logged = await _per_request_us(wrapped, n)
        cost = logged - bare
        print(f"bare {bare:6.2f} us  with access line {logged:6.2f} us  cost {cost:6.2f} us")


if __name__ == "__main__":
    _log_to_devnull()
    asyncio.run(main())
