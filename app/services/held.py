"""What an agent keeps back from a client-tool answer, and how it is put back.

When a model turn of an agent calls the client's tools, the gateway runs its own calls of that
answer (gateway tools, SDK tools, handoffs), answers with the client's calls only, and records
the messages the client never saw in ``request.completed.held``. The client's calls get ids
that name that request (``call_lg_<hex>_<n>`` for ``chatcmpl-<hex>``, ``call_lgr_<hex>_<n>``
for the Responses route's ``resp_<hex>``), so when the client sends its results, ``restore``
finds the request by those ids, reads its stream and puts the held messages in place of the
client's copy of that assistant message: the upstream always sees a complete conversation.
Only the key that made the request can have its messages restored.
"""

from __future__ import annotations

from typing import Any

import msgspec

from domain.ports import EventStore

# The request id's prefix → the prefix of its client calls' ids.
_CALL_PREFIXES = {"chatcmpl-": "call_lg_", "resp_": "call_lgr_"}
_MAX_READ = 100_000


def client_call_id(request_id: str, n: int) -> str:
    """The id the client sees for its ``n``-th tool call of an agent answer."""
    for request_prefix, call_prefix in _CALL_PREFIXES.items():
        if request_id.startswith(request_prefix):
            return f"{call_prefix}{request_id.removeprefix(request_prefix)}_{n}"
    return f"call_lg_{request_id}_{n}"  # not a request id of ours: never restored


def request_of(call_id: str) -> str | None:
    """The request that made a client tool call, from its id (None if not an agent's call)."""
    for request_prefix, call_prefix in _CALL_PREFIXES.items():
        if not call_id.startswith(call_prefix):
            continue
        hex_id, _, n = call_id[len(call_prefix) :].rpartition("_")
        if len(hex_id) == 32 and n.isdigit() and all(c in "0123456789abcdef" for c in hex_id):
            return request_prefix + hex_id
    return None


async def _held(store: EventStore, request_id: str, key_id: str) -> list[dict[str, Any]] | None:
    events = await store.read_stream(f"request:{request_id}", limit=_MAX_READ)
    owner = None
    for event in events:
        if event.type == "request.received":
            owner = msgspec.json.decode(event.data).get("key_id")
        elif event.type == "request.completed" and owner == key_id:
            held = msgspec.json.decode(event.data).get("held")
            return held if isinstance(held, list) else None
    return None


async def restore(
    store: EventStore, key_id: str, messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``messages`` with every agent's held messages put back (the same list if none)."""
    out: list[dict[str, Any]] = []
    changed = False
    for message in messages:
        request_id = _agent_request(message)
        held = await _held(store, request_id, key_id) if request_id else None
        if held:
            out.extend(held)  # in place of the client's copy of that assistant message
            changed = True
        else:
            out.append(message)
    return out if changed else messages


def _agent_request(message: Any) -> str | None:
    if not isinstance(message, dict) or message.get("role") != "assistant":
        return None
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return None
    for call in calls:
        call_id = call.get("id") if isinstance(call, dict) else None
        if isinstance(call_id, str) and (request_id := request_of(call_id)):
            return request_id
    return None
