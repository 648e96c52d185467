"""The live-gateway harness: a real uvicorn server on loopback running ``create_app``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.fixtures import MASTER_KEY
from tests.support.live_server import LiveGateway


def test_gateway_answers_health_and_exposes_services(
    gateway_factory: Callable[..., LiveGateway],
) -> None:
    gw = gateway_factory()
    assert httpx.get(gw.url("/healthz")).json() == {"status": "ok"}
    ready = httpx.get(gw.url("/readyz"))
    assert ready.status_code == 200
    assert gw.master_key == MASTER_KEY
    assert gw.settings.watch_dropins is False
    # The log lives in this gateway's own temp folder and is reachable on the server's loop.
    assert gw.settings.database_url.endswith("/gw0/log.db")
    assert gw.call(gw.services.store.head) == ready.json()["log_head"]


def test_two_gateways_get_their_own_ports_and_logs(
    gateway_factory: Callable[..., LiveGateway], tmp_path: Path
) -> None:
    first = gateway_factory(database_url="memory://")
    second = gateway_factory(database_url="memory://", agents_dirs=[str(tmp_path)])
    assert first.base_url != second.base_url
    assert first.services.store is not second.services.store
    assert second.settings.agents_dirs == (str(tmp_path),)
    assert httpx.get(second.url("/healthz")).status_code == 200


def test_stop_frees_the_port(gateway_factory: Callable[..., LiveGateway]) -> None:
    gw = gateway_factory(database_url="memory://")
    gw.stop()
    try:
        httpx.get(gw.url("/healthz"), timeout=2)
    except httpx.ConnectError:
        pass
    else:
        raise AssertionError("the gateway still answers after stop()")
