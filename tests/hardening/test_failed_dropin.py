"""A name that belongs to a failed drop-in is a 503 with its remediation, never the upstream."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.api.conftest import all_events, data, types_of
from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway


def test_a_failed_dropin_name_is_503_even_when_every_upstream_model_is_allowed(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    agents = tmp_path / "agents"
    (agents / "weather").mkdir(parents=True)
    (agents / "weather" / "agent.py").write_text(
        "import weather_sdk_that_is_not_installed\n"
        "from agents import Agent\n"
        'agent = Agent(name="weather")\n'
    )
    gw = gateway_factory(agents_dirs=[str(agents)], upstream=fake_upstream, upstream_models=["*"])
    fake_upstream.text("answered by the upstream model named weather")
    body = {"model": "weather", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(gw.url("/v1/chat/completions"), json=body, headers=gw.headers())
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("dropin_unavailable", "model")
    assert "weather_sdk_that_is_not_installed" in error["message"]
    assert "install" in error["message"].lower()  # the remediation
    assert fake_upstream.requests == []
    new = all_events(gw)
    assert types_of(new)[-2:] == ["request.received", "request.failed"]
    assert data(new[-1])["status"] == 503
    # Other names still go upstream, and a fixed drop-in is served again after a rescan.
    body["model"] = "gpt-x"
    assert (
        httpx.post(gw.url("/v1/chat/completions"), json=body, headers=gw.headers()).status_code
        == 200
    )
    (agents / "weather" / "agent.py").write_text(
        'from agents import Agent\nagent = Agent(name="weather", instructions="x")\n'
    )
    scan = httpx.post(gw.url("/admin/discovery/scan"), headers=gw.headers(), timeout=30)
    assert scan.status_code == 200
    fake_upstream.text("the drop-in answers")
    body["model"] = "weather"
    answer = httpx.post(gw.url("/v1/chat/completions"), json=body, headers=gw.headers(), timeout=30)
    assert answer.status_code == 200, answer.text
