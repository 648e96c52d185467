"""Upstream failures become the gateway errors (and statuses) clients see: by status code for
an answer, by exception type for httpx2's errors, never by message text."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from app.adapters.upstream.failures import status_error, transport_error
from app.errors import GatewayError, RateLimited


def body(error: Any) -> bytes:
    return json.dumps({"error": error}).encode()


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
    err = status_error(
        status, body({"message": "model 'nope' does not exist", "code": "x", "param": "model"})
    )
    assert (err.status, err.error_type, err.message) == (
        expected_status,
        error_type,
        "model 'nope' does not exist",
    )
    assert (err.code, err.param, err.upstream_status) == ("x", "model", status)


def test_a_passed_through_status_is_also_the_matching_gateway_error_class() -> None:
    err = status_error(429, body({"message": "slow down"}))
    assert isinstance(err, RateLimited) and err.code == "rate_limit_exceeded"


@pytest.mark.parametrize("status", [401, 403, 500, 503])
def test_other_statuses_are_a_bad_gateway_without_the_upstream_message(status: int) -> None:
    err = status_error(status, body({"message": "Incorrect API key provided: sk-abc123456789"}))
    assert (err.status, err.code, err.upstream_status) == (502, f"upstream_status_{status}", status)
    assert "sk-" not in err.to_json().decode()


def test_secrets_in_passed_through_messages_are_scrubbed() -> None:
    err = status_error(400, body({"message": "bad key sk-proj-abcdef123456 used"}))
    assert err.message == "bad key [redacted] used"


def test_a_body_that_is_not_an_error_object_gets_a_plain_message() -> None:
    err = status_error(400, b"<html>nope</html>")
    assert (err.status, err.message) == (400, "The upstream answered 400.")


def gateway(exc: BaseException, *, begun: bool = False) -> tuple[int, str | None]:
    err: GatewayError = transport_error(exc, begun=begun)
    return err.status, err.code


def test_connection_and_timeout_errors() -> None:
    assert gateway(httpx2.ConnectError("refused")) == (502, "upstream_unavailable")
    assert gateway(httpx2.ConnectTimeout("slow")) == (504, "upstream_timeout")
    assert gateway(httpx2.ReadTimeout("slow"), begun=True) == (504, "upstream_timeout")
    assert gateway(httpx2.ProxyError("proxy said no")) == (502, "upstream_unavailable")
    assert gateway(httpx2.RemoteProtocolError("Server disconnected")) == (
        502,
        "upstream_unavailable",
    )


def test_a_connection_lost_after_the_answer_began_is_a_broken_stream() -> None:
    for exc in (httpx2.RemoteProtocolError("peer closed"), httpx2.ReadError("reset")):
        assert gateway(exc, begun=True) == (502, "upstream_stream_broken")


def test_bad_encodings_and_other_errors() -> None:
    assert gateway(httpx2.DecodingError("bad gzip"), begun=True) == (502, "upstream_bad_response")
    assert gateway(RuntimeError("boom")) == (502, "upstream_error")
