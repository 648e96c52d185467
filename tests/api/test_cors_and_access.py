"""Browsers (``LEDGERGATE_CORS_ORIGINS``) and the scripted upstream's model list."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.support.live_server import LiveGateway

ORIGIN = "http://app.example"


def test_preflight_and_answers_carry_cors_headers_for_allowed_origins_only(
    gateway_factory: Callable[..., LiveGateway],
) -> None:
    gw = gateway_factory(cors_origins=(ORIGIN,))
    preflight = httpx.options(
        gw.url("/v1/chat/completions"),
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "authorization, content-type"
    models = httpx.get(gw.url("/v1/models"), headers={"Origin": ORIGIN, **gw.headers()})
    assert models.status_code == 200
    assert models.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in models.headers["access-control-expose-headers"]
    denied = httpx.get(gw.url("/v1/models"), headers={"Origin": "http://evil.example"})
    assert denied.status_code == 401 and "access-control-allow-origin" not in denied.headers
    admin = httpx.get(gw.url("/healthz"), headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in admin.headers


def test_without_cors_origins_there_is_no_cors(gateway_factory: Callable[..., LiveGateway]) -> None:
    gw = gateway_factory()
    preflight = httpx.options(
        gw.url("/v1/chat/completions"),
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_a_model_typo_is_404_model_not_found_from_the_scripted_upstream(
    gateway_factory: Callable[..., LiveGateway],
) -> None:
    gw = gateway_factory()
    body = {"model": "assitant", "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(gw.url("/v1/chat/completions"), json=body, headers=gw.headers())
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "model_not_found"
    listed = httpx.get(gw.url("/v1/models"), headers=gw.headers()).json()["data"]
    assert "assitant" not in {m["id"] for m in listed}
    assert {"scripted", "gpt-4o-mini"} <= {m["id"] for m in listed}
