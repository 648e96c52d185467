"""A body over the limit gets its 413 with the clients people use, not a connection reset."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable

import httpx
import pytest

from tests.api.conftest import all_events
from tests.support.live_server import LiveGateway

LIMIT = 65_536


def _big_body() -> bytes:
    text = "x" * (8 * 1024 * 1024)
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()


@pytest.fixture
def gateway(gateway_factory: Callable[..., LiveGateway]) -> LiveGateway:
    return gateway_factory(max_body_bytes=LIMIT)


def test_urllib_gets_the_413(gateway: LiveGateway) -> None:
    before = len(all_events(gateway))
    request = urllib.request.Request(
        gateway.url("/v1/chat/completions"),
        data=_big_body(),
        headers={**gateway.headers(), "content-type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 413
    assert json.loads(err.value.read())["error"]["code"] == "request_too_large"
    assert len(all_events(gateway)) == before


@pytest.mark.parametrize("chunked", [False, True])
def test_httpx_gets_the_413(gateway: LiveGateway, chunked: bool) -> None:
    body = _big_body()

    def pieces() -> object:
        for start in range(0, len(body), 65_536):
            yield body[start : start + 65_536]

    response = httpx.post(
        gateway.url("/v1/chat/completions"),
        content=pieces() if chunked else body,
        headers=gateway.headers(),
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    # The connection stays usable or is closed cleanly: the next request is answered.
    assert httpx.get(gateway.url("/healthz")).status_code == 200
