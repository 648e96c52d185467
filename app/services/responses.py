"""The Responses API service: admission through the chat service, conversations from the log.

A Responses request is translated (``responses_convert``) into a chat request and admitted by
``ChatService.start`` with ``api="responses"``: the same ACL, events, backends and run
machinery serve both routes. Nothing about a response is stored outside the log: retrieving
one, listing its input items and continuing it with ``previous_response_id`` all replay
``request:<resp_id>`` (and, for a conversation, the streams of the responses before it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.errors import BadRequest, GatewayError, NotFound
from app.ports.chat_backend import ChatRequest
from app.services import responses_convert as rc
from app.services.chat import ChatRun, ChatService
from app.services.replay import ReplayedRequest, replay
from app.services.responses_upstream import upstream_body
from domain.events import RESPONSES_API
from domain.policy import Principal
from domain.ports import EventStore

MAX_CONVERSATION = 256
"""At most this many earlier responses are replayed to continue a conversation."""


@dataclass(frozen=True, slots=True)
class Stored:
    """A response as the log tells it."""

    response_id: str
    body: dict[str, Any]  # the request as sent
    replayed: ReplayedRequest

    @property
    def input(self) -> list[dict[str, Any]]:
        return rc.input_items(self.body.get("input", []))

    @property
    def output(self) -> list[dict[str, Any]]:
        return rc.output_items(self.response_id, self.replayed.answer)


_TYPES: dict[str, type] = {
    "stream": bool,
    "store": bool,
    "instructions": str,
    "previous_response_id": str,
    "max_output_tokens": int,
}
# Fields a client relies on that the gateway cannot honour: refused, never silently ignored.
_REFUSED = {
    "conversation": "continue a conversation with previous_response_id.",
    "prompt": "stored prompt templates live on OpenAI; send input and instructions.",
    "background": "responses are answered while the request is open.",
}
_TYPE_NAMES = {bool: "a boolean", str: "a string", int: "an integer"}


def _not_found(response_id: str) -> NotFound:
    return NotFound(
        f"Response with id '{response_id}' not found.",
        param="response_id",
        code="response_not_found",
    )


def _check(body: dict[str, Any]) -> None:
    """The checks the translation does not make itself."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest(
            "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
        )
    if "input" not in body and not body.get("previous_response_id"):
        raise BadRequest(
            "Missing required parameter: 'input'.", param="input", code="missing_required_parameter"
        )
    for name, kind in _TYPES.items():
        value = body.get(name)
        # bool is an int to Python, never to JSON Schema.
        if value is not None and (
            not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        ):
            raise BadRequest(
                f"Invalid type for '{name}': expected {_TYPE_NAMES[kind]}.",
                param=name,
                code="invalid_type",
            )
    for name, why in _REFUSED.items():
        if body.get(name):
            raise BadRequest(
                f"'{name}' is not supported by this gateway: {why}",
                param=name,
                code="unsupported_parameter",
            )
    limit = body.get("max_output_tokens")
    if limit is not None and limit < 1:
        raise BadRequest("'max_output_tokens' must be at least 1.", param="max_output_tokens")


class ResponsesService:
    """Serves ``/v1/responses``: create (streamed or not), retrieve, input items."""

    def __init__(self, *, store: EventStore, chat: ChatService) -> None:
        self.store = store
        self.chat = chat

    async def start(
        self,
        principal: Principal,
        body: dict[str, Any],
        *,
        client: str,
        request_id: str,
        show_tools: bool = False,
    ) -> ChatRun:
        """Admit a create request; raises GatewayError (recorded) for bad input or denial."""
        try:
            _check(body)
            items = rc.input_items(body.get("input", []))
            if any(item["type"] == "item_reference" for item in items):
                items = await self._dereference(principal, items)
            history: list[dict[str, Any]] = []
            previous = body.get("previous_response_id")
            if previous:
                history = await self.conversation(principal, previous)
            conversation = history + items
            messages = rc.to_messages(conversation, body.get("instructions"))
            raw = rc.chat_body(body, messages)
        except GatewayError as exc:
            await self.chat.reject(
                principal, body, exc, client=client, request_id=request_id, api=RESPONSES_API
            )
            raise
        stream = body.get("stream") is True
        request = ChatRequest(
            model=body["model"],
            messages=messages,
            stream=stream,
            include_usage=stream,  # response.completed carries usage
            tools=raw.get("tools"),
            max_tokens=body.get("max_output_tokens"),
            raw={**raw, "stream": stream},
            show_tools=show_tools,
            items=rc.sdk_items(conversation, body.get("instructions")),
            responses=upstream_body(body, conversation, stream),
        )
        return await self.chat.start(
            principal, request, client=client, request_id=request_id, api=RESPONSES_API, body=body
        )

    async def find(self, principal: Principal, response_id: str) -> Stored:
        """A stored response of this key, or NotFound (other keys', ``store: false``, chat)."""
        if not response_id.startswith("resp_"):
            raise _not_found(response_id)
        replayed = await replay(self.store, response_id)
        if (
            replayed is None
            or replayed.api != RESPONSES_API
            or replayed.key_id != principal.key_id
            or replayed.input.get("store") is False
        ):
            raise _not_found(response_id)
        return Stored(response_id, replayed.input, replayed)

    async def _dereference(
        self, principal: Principal, items: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """``item_reference`` items (what a client sends for items the server stored, e.g. the
        Vercel AI SDK with ``store``) replaced by the items, found in the log by their ids."""
        found: dict[str, Stored | None] = {}
        out: list[dict[str, Any]] = []
        for item in items:
            if item["type"] != "item_reference":
                out.append(item)
                continue
            response_id = rc.response_of_item(item["id"]) or ""
            if response_id not in found:
                try:
                    found[response_id] = await self.find(principal, response_id)
                except NotFound:
                    found[response_id] = None
            stored = found[response_id]
            known = {}
            if stored is not None:
                for each in stored.output + rc.listed_input_items(response_id, stored.input):
                    known[each["id"]] = each
            if item["id"] not in known:
                raise NotFound(
                    f"Item with id '{item['id']}' not found.", param="input", code="item_not_found"
                )
            out.append(known[item["id"]])
        return out

    async def conversation(self, principal: Principal, response_id: str) -> list[dict[str, Any]]:
        """Every item of the conversation up to and including ``response_id``'s output."""
        chain: list[Stored] = []
        next_id: str | None = response_id
        while next_id:
            if len(chain) >= MAX_CONVERSATION:
                raise BadRequest(
                    f"The conversation is longer than {MAX_CONVERSATION} responses.",
                    param="previous_response_id",
                )
            try:
                stored = await self.find(principal, next_id)
            except NotFound:
                raise NotFound(
                    f"Previous response with id '{next_id}' not found.",
                    param="previous_response_id",
                    code="previous_response_not_found",
                ) from None
            if stored.replayed.status != "completed":
                raise BadRequest(
                    f"Response '{next_id}' did not complete and cannot be continued.",
                    param="previous_response_id",
                )
            chain.append(stored)
            previous = stored.body.get("previous_response_id")
            next_id = previous if isinstance(previous, str) else None
        items: list[dict[str, Any]] = []
        for stored in reversed(chain):
            items += await self._dereference(principal, stored.input) + stored.output
        return items
