"""Browser fixtures: one populated gateway and one Chromium per module, a fresh page per test.

Every page records each request it makes; at teardown each must have gone to the gateway on
127.0.0.1 and none may carry the key in its URL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.console.harness import chromium, populated_gateway
from tests.support.live_server import LiveGateway


def _need_chromium() -> str:
    path = chromium()
    if path is None:
        reason = "Debian's Chromium is missing (/usr/bin/chromium): apt-get install -y chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the browser tests: {reason}")
        print(f"\nskipping the console's browser tests: {reason}")  # shown with -s and in CI logs
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    _need_chromium()
    with populated_gateway(tmp_path_factory.mktemp("console")) as gw:
        yield gw


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Never a downloaded browser: Debian's Chromium, headless, as root without a sandbox.
        launched = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class Recorded:
    """Every request a page made: (url, headers)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def page(browser: Any, gateway: LiveGateway, recorded: Recorded) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    # Anything not for the gateway is refused before it leaves the browser, and recorded.
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if urlsplit(route.request.url).hostname == "127.0.0.1"
            else route.abort()
        ),
    )
    tab = context.new_page()
    tab.on("request", lambda r: recorded.requests.append((r.url, r.headers)))
    try:
        yield tab
    finally:
        context.close()
    port = urlsplit(gateway.base_url).port
    for url, _ in recorded.requests:
        parts = urlsplit(url)
        assert (parts.hostname, parts.port) == ("127.0.0.1", port), url
        assert gateway.master_key not in url


def login(page: Any, gw: LiveGateway, view: str = "") -> None:
    """Open the console and paste the key, as a new admin would."""
    from playwright.sync_api import expect

    page.goto(gw.url("/console") + (f"#{view}" if view else ""))
    page.get_by_label("Admin key").fill(gw.master_key)
    page.get_by_role("button", name="Open the console").click()
    expect(page.locator("#nav")).to_be_visible()
