"""The real gateway (``app.main.create_app``) under uvicorn on loopback, for end-to-end tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import openai

from app.settings import Settings
from tests.support.threaded import ThreadedUvicorn

T = TypeVar("T")


class LiveGateway:
    """A started gateway: ``base_url`` (no ``/v1``), ``settings``, ``master_key``, ``services``.

    ``call(fn, *args)`` runs ``await fn(*args)`` on the server's own event loop (where the
    services live) and returns the result, e.g. ``gw.call(gw.services.store.head)``.
    ``with LiveGateway(settings).start() as gw:`` stops it at the end of the block.
    """

    def __init__(self, settings: Settings, app: Any | None = None) -> None:
        if app is None:
            from app.main import create_app  # the composition root, only here in tests

            app = create_app(settings)
        self.settings = settings
        self.app = app
        self.master_key: str = settings.master_key or ""
        self._server = ThreadedUvicorn(app, name="live-gateway")
        self.base_url = f"http://127.0.0.1:{self._server.port}"

    def start(self) -> LiveGateway:
        self._server.start()
        response = httpx.get(self.base_url + "/healthz", timeout=10)
        if response.status_code != 200:
            self._server.stop()
            raise RuntimeError(f"/healthz answered {response.status_code}: {response.text}")
        return self

    @property
    def services(self) -> Any:
        """The running app's ``Services`` (from Litestar app state)."""
        return self.app.state.services

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, timeout: float = 30.0) -> T:
        return self._server.call(fn, *args, timeout=timeout)

    def url(self, path: str) -> str:
        return self.base_url + path

    def openai(self, api_key: str | None = None, **kwargs: Any) -> openai.AsyncOpenAI:
        """An ``AsyncOpenAI`` client for this gateway (master key unless ``api_key`` given)."""
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 30.0)
        return openai.AsyncOpenAI(
            base_url=self.base_url + "/v1", api_key=api_key or self.master_key, **kwargs
        )

    def headers(self, api_key: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key or self.master_key}"}

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> LiveGateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
