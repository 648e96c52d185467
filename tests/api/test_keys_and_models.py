"""Key scoping, /v1/models, the OpenAPI schema, and no secret anywhere in the log."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import pytest

from tests.api.conftest import all_events, data, events_of, issue_key, types_of
from tests.support.fake_upstream import FakeUpstream
from tests.support.fixtures import UPSTREAM_KEY
from tests.support.live_server import LiveGateway

AGENT = 'model = "up"\ninstructions = "Be brief."\ntools = ["word_count"]\n'
MSG = [{"role": "user", "content": "hi"}]


def test_one_key_cannot_use_another_keys_agent_and_revoked_keys_fail(
    agent_gateway: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default.text = "fine"
    gw = agent_gateway(AGENT, name="alpha", upstream=fake_upstream)
    alpha_key, alpha_id = issue_key(gw, "alpha-team", agents=["alpha"])
    other_key, other_id = issue_key(gw, "other-team", agents=["beta*"], models=["gpt-*"])
    ok = openai.OpenAI(base_url=gw.url("/v1"), api_key=alpha_key, max_retries=0)
    assert (
        ok.chat.completions.create(model="alpha", messages=MSG).choices[0].message.content == "fine"
    )  # type: ignore[arg-type]

    denied = openai.OpenAI(base_url=gw.url("/v1"), api_key=other_key, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as err:
        denied.chat.completions.create(model="alpha", messages=MSG)  # type: ignore[arg-type]
    events = events_of(gw, err.value.response.headers["x-request-id"])
    assert types_of(events) == ["request.received", "acl.decided", "request.failed"]
    acl = data(events[1])
    assert acl["decision"] == "deny" and acl["subject"] == other_id and acl["action"] == "use_agent"
    # Passthrough is governed too: alpha's key has no models.
    with pytest.raises(openai.PermissionDeniedError):
        ok.chat.completions.create(model="gpt-4o", messages=MSG)  # type: ignore[arg-type]

    assert gw.call(lambda: gw.services.keys.revoke(alpha_id)) is True
    with pytest.raises(openai.AuthenticationError):
        ok.chat.completions.create(model="alpha", messages=MSG)  # type: ignore[arg-type]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gw.url("/v1"), api_key="lg-made-up", max_retries=0).models.list()


def test_models_lists_only_what_the_key_may_use(
    agent_gateway: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    gw = agent_gateway(AGENT, name="alpha", upstream=fake_upstream)
    master = openai.OpenAI(base_url=gw.url("/v1"), api_key=gw.master_key, max_retries=0)
    assert [m.id for m in master.models.list()] == ["alpha", "fake-model"]
    agent_only, _ = issue_key(gw, "a", agents=["alpha"])
    narrow = openai.OpenAI(base_url=gw.url("/v1"), api_key=agent_only, max_retries=0)
    assert [m.id for m in narrow.models.list()] == ["alpha"]
    assert narrow.models.retrieve("alpha").id == "alpha"
    with pytest.raises(openai.NotFoundError):
        narrow.models.retrieve("fake-model")
    nothing, _ = issue_key(gw, "n")
    assert (
        list(openai.OpenAI(base_url=gw.url("/v1"), api_key=nothing, max_retries=0).models.list())
        == []
    )


def test_openapi_schema_lists_the_openai_routes(
    gateway_factory: Callable[..., LiveGateway],
) -> None:
    gw = gateway_factory()
    schema = httpx.get(gw.url("/schema/openapi.json")).json()
    post = schema["paths"]["/v1/chat/completions"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "model",
        "messages",
    ]
    assert "200" in post["responses"]
    assert "/v1/models" in schema["paths"]


def test_no_secret_anywhere_in_the_log(
    agent_gateway: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    gw = agent_gateway(AGENT, name="alpha", upstream=fake_upstream)
    secret, _ = issue_key(gw, "k", agents=["*"], models=["*"])
    fake_upstream.tool_calls(("word_count", {"text": "a b"}))
    for key in (gw.master_key, secret):
        client = openai.OpenAI(base_url=gw.url("/v1"), api_key=key, max_retries=0)
        client.chat.completions.create(model="alpha", messages=MSG)  # type: ignore[arg-type]
        client.chat.completions.create(model="m", messages=MSG, extra_body={"api_key": key})  # type: ignore[arg-type]
        with client.chat.completions.create(model="m", messages=MSG, stream=True) as stream:  # type: ignore[arg-type]
            list(stream)
    httpx.post(gw.url("/v1/chat/completions"), json={"model": "m"}, headers=gw.headers(secret))
    assert fake_upstream.requests[-1].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    events = all_events(gw)
    assert len(events) > 20
    blob = b"\n".join(e.data + e.meta for e in events)
    for needle in (gw.master_key, secret, UPSTREAM_KEY, secret[3:]):
        assert needle.encode() not in blob
