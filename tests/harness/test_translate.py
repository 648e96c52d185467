"""``translate``: upstream failures become the gateway errors (and statuses) clients see."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest

from app.adapters.upstream.errors import translate
from app.errors import GatewayError

REQUEST = httpx2.Request("POST", "https://llm.example/v1/chat/completions")


def status_error(status: int, body: Any) -> openai.APIStatusError:
    response = httpx2.Response(status, request=REQUEST, json={"error": body})
    client = openai.AsyncOpenAI(api_key="sk-x", base_url="https://llm.example/v1")
    return client._make_status_error_from_response(response)


@pytest.mark.parametrize(
    ("status", "expected_status", "error_type"),
    [
        (400, 400, "invalid_request_error"),
        (404, 404, "invalid_request_error"),
        (422, 422, "invalid_request_error"),
        (429, 429, "rate_limit_error"),
    ],
)
def test_client_side_statuses_pass_through_with_the_upstream_message(
    status: int, expected_status: int, error_type: str
) -> None:
    exc = status_error(
        status, {"message": "model 'nope' does not exist", "code": "x", "param": "model"}
    )
    err = translate(exc)
    assert (err.status, err.error_type, err.message) == (
        expected_status,
        error_type,
        "model 'nope' does not exist",
    )
    assert (err.code, err.param) == ("x", "model")


@pytest.mark.parametrize("status", [401, 403, 500, 503])
def test_other_statuses_are_a_bad_gateway_without_the_upstream_message(status: int) -> None:
    exc = status_error(status, {"message": "Incorrect API key provided: sk-abc123456789"})
    err = translate(exc)
    assert err.status == 502
    assert "sk-" not in err.to_json().decode()


def test_secrets_in_passed_through_messages_are_scrubbed() -> None:
    err = translate(status_error(400, {"message": "bad key sk-proj-abcdef123456 used"}))
    assert err.message == "bad key [redacted] used"


def gateway(exc: BaseException, **kw: Any) -> tuple[int, str | None]:
    err: GatewayError = translate(exc, **kw)
    return err.status, err.code


def test_connection_and_timeout_errors() -> None:
    assert gateway(openai.APIConnectionError(request=REQUEST)) == (502, "upstream_unavailable")
    assert gateway(openai.APITimeoutError(request=REQUEST)) == (504, "upstream_timeout")
    assert gateway(httpx2.ReadTimeout("slow")) == (504, "upstream_timeout")
    assert gateway(openai.APIConnectionError(request=REQUEST), mid_stream=True) == (
        502,
        "upstream_stream_broken",
    )


def test_broken_streams_and_bad_responses() -> None:
    assert gateway(httpx2.RemoteProtocolError("peer closed")) == (502, "upstream_stream_broken")
    assert gateway(httpx2.ReadError("reset")) == (502, "upstream_stream_broken")
    assert gateway(json.JSONDecodeError("x", "{", 1)) == (502, "upstream_bad_response")
    response = httpx2.Response(200, request=REQUEST)
    assert gateway(openai.APIResponseValidationError(response, body=None)) == (
        502,
        "upstream_bad_response",
    )
    assert gateway(RuntimeError("boom")) == (502, "upstream_error")


def test_gateway_errors_pass_unchanged() -> None:
    err = GatewayError("x", code="y")
    assert translate(err) is err
