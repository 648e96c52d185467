"""An SDK drop-in whose upstream answers nothing gets 502 upstream_incomplete, as other paths do."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.api.conftest import data, wait_for_terminal
from tests.dropins.conftest import FIXTURES
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.live_server import LiveGateway


@pytest.mark.parametrize("agent", ["minimal"])
@pytest.mark.parametrize("stream", [False, True])
def test_an_empty_upstream_answer_is_upstream_incomplete(
    gateway_factory: Callable[..., LiveGateway],
    fake_upstream: FakeUpstream,
    agent: str,
    stream: bool,
) -> None:
    gw = gateway_factory(agents_dirs=[str(FIXTURES / "good")], upstream=fake_upstream)
    fake_upstream.default = Reply.text_of("", chunks=1)
    body = {"model": agent, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    response = httpx.post(
        gw.url("/v1/chat/completions"), json=body, headers=gw.headers(), timeout=30
    )
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "upstream_incomplete" and agent in error["message"]
    events = wait_for_terminal(gw, response.headers["x-request-id"])
    assert events[-1].type == "request.failed"
    assert data(events[-1])["code"] == "upstream_incomplete"
