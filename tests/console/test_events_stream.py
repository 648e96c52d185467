"""``GET /admin/events/stream`` on a real gateway: SSE bytes, ``id:`` = position, resuming."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest

from tests.support.live_server import LiveGateway

Message = tuple[int, dict[str, Any]]


def _messages(response: httpx.Response) -> Iterator[Message]:
    """Parse SSE messages (``id`` and one ``data`` line each); comments are skipped."""
    event_id: int | None = None
    data: bytes | None = None
    for line in response.iter_lines():
        if line.startswith(":"):
            continue
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            data = line[6:].encode()
        elif line == "" and event_id is not None and data is not None:
            yield event_id, msgspec.json.decode(data)
            event_id, data = None, None


def _read(
    gw: LiveGateway,
    until: Callable[[list[Message]], bool],
    headers: dict[str, str] | None = None,
    **params: Any,
) -> list[Message]:
    got: list[Message] = []
    with (
        httpx.Client(timeout=httpx.Timeout(20.0)) as client,
        client.stream(
            "GET",
            gw.url("/admin/events/stream"),
            headers={**gw.headers(), **(headers or {})},
            params=params,
        ) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for message in _messages(response):
            got.append(message)
            if until(got):
                break
    return got


def _chat(gw: LiveGateway, text: str = "hello") -> str:
    response = httpx.post(
        gw.url("/v1/chat/completions"),
        headers=gw.headers(),
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.headers["x-request-id"])


def _exported(gw: LiveGateway) -> list[dict[str, Any]]:
    page = httpx.get(gw.url("/admin/events"), headers=gw.headers(), params={"limit": 1000})
    events: list[dict[str, Any]] = page.json()["events"]
    return events


def test_id_is_the_position_and_data_is_the_exported_event(gateway_factory: Any) -> None:
    gw: LiveGateway = gateway_factory()
    _chat(gw)
    head = gw.call(gw.services.store.head)
    got = _read(gw, lambda got: got[-1][0] >= head, after=0)
    assert [i for i, _ in got] == list(range(1, head + 1))
    assert all(event["position"] == i for i, event in got)
    assert [event for _, event in got] == _exported(gw)[:head]


def test_resumes_after_last_event_id(gateway_factory: Any) -> None:
    gw: LiveGateway = gateway_factory()
    _chat(gw)
    head = gw.call(gw.services.store.head)
    assert head > 5
    resume = head - 3
    # Last-Event-ID is the client's own progress, so it wins over ``after``.
    got = _read(gw, lambda got: got[-1][0] >= head, {"last-event-id": str(resume)}, after=0)
    assert [i for i, _ in got] == [resume + 1, resume + 2, resume + 3]


def test_without_after_tails_only_new_events(gateway_factory: Any) -> None:
    gw: LiveGateway = gateway_factory()
    _chat(gw, "before")
    head = gw.call(gw.services.store.head)
    request_ids: list[str] = []
    opened = threading.Event()

    def chat_later() -> None:
        opened.wait(10)
        request_ids.append(_chat(gw, "after"))

    worker = threading.Thread(target=chat_later)
    worker.start()

    # The chat starts once the stream's headers are in, so its start (the head) is fixed.
    got = _read_opening(gw, lambda got: got[-1][1]["type"] == "request.completed", opened)
    worker.join(10)
    assert got[0][0] == head + 1
    assert {event["stream"] for _, event in got} == {f"request:{request_ids[0]}"}


def _read_opening(
    gw: LiveGateway, until: Callable[[list[Message]], bool], opened: threading.Event
) -> list[Message]:
    got: list[Message] = []
    with (
        httpx.Client(timeout=httpx.Timeout(20.0)) as client,
        client.stream("GET", gw.url("/admin/events/stream"), headers=gw.headers()) as response,
    ):
        assert response.status_code == 200
        opened.set()  # headers are in: the tail's start position is fixed
        for message in _messages(response):
            got.append(message)
            if until(got):
                break
    return got


@pytest.mark.parametrize(
    ("headers", "params", "status"),
    [
        ({}, {}, 401),
        ({"authorization": "Bearer lg-nope"}, {}, 401),
        ({"last-event-id": "twelve"}, {}, 400),
        ({}, {"after": "-1"}, 400),
    ],
)
def test_refusals_are_openai_errors(
    gateway_factory: Any, headers: dict[str, str], params: dict[str, str], status: int
) -> None:
    gw: LiveGateway = gateway_factory()
    base = {} if status == 401 else gw.headers()
    response = httpx.get(
        gw.url("/admin/events/stream"), headers={**base, **headers}, params=params, timeout=10
    )
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_a_key_without_admin_right_is_refused(gateway_factory: Any) -> None:
    gw: LiveGateway = gateway_factory()
    created = httpx.post(
        gw.url("/admin/keys"), headers=gw.headers(), json={"name": "plain"}, timeout=10
    ).json()
    response = httpx.get(
        gw.url("/admin/events/stream"), headers=gw.headers(created["key"]), timeout=10
    )
    assert response.status_code == 403
