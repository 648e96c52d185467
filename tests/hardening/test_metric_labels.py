"""Clients cannot poison metrics: invented names take no label slot; the snapshot is bounded."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.support.live_server import LiveGateway


def _chat(gw: LiveGateway, model: str) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(gw.url("/v1/chat/completions"), json=body, headers=gw.headers())
    return response.status_code


def _settled(gw: LiveGateway, path: str) -> httpx.Response:
    head = gw.call(gw.services.store.head)
    return httpx.get(gw.url(f"{path}?min_position={head}"), headers=gw.headers(), timeout=30)


def test_refused_model_names_take_no_prometheus_label(
    gateway_factory: Callable[..., LiveGateway],
) -> None:
    gw = gateway_factory(upstream_models=["gpt-*"])
    for i in range(60):
        assert _chat(gw, f"junk-{i}") == 404
    assert _chat(gw, "gpt-4o-mini") == 200
    text = _settled(gw, "/metrics").text
    requests = [line for line in text.splitlines() if line.startswith("ledgergate_requests_total")]
    assert any('model="gpt-4o-mini"' in line for line in requests), requests
    assert not any("junk-" in line for line in text.splitlines())


def test_the_admin_snapshot_lists_at_most_50_models(
    gateway_factory: Callable[..., LiveGateway],
) -> None:
    gw = gateway_factory(upstream_models=["gpt-*"])
    for i in range(70):
        _chat(gw, f"junk-{i}")
    assert _chat(gw, "gpt-4o-mini") == 200
    assert _chat(gw, "gpt-4o-mini") == 200
    snapshot = _settled(gw, "/admin/metrics").json()["requests"]
    by_model = {m["model"]: m for m in snapshot["by_model"]}
    assert len(by_model) <= 50
    assert by_model["gpt-4o-mini"]["requests"] == 2
    assert sum(m["requests"] for m in by_model.values()) == snapshot["total"] == 72
    assert by_model["other"]["requests"] == 72 - 2 - sum(
        m["requests"] for name, m in by_model.items() if name not in ("other", "gpt-4o-mini")
    )
