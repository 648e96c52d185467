"""The offline ``scripted`` upstream: an httpx2 transport that speaks Chat Completions and the
Responses API (the same script, on the request translated by ``responses_convert``).

Deterministic and network-free. It serves only the models it lists (``MODELS``; any other gets
OpenAI's 404 ``model_not_found``, so a typo is not answered). It answers the last user message;
when the request offers ``tools`` and no tool result follows the last user message, it calls one
tool (the first whose name appears in the user's text, else the first offered) with arguments
built from the tool's JSON schema; after ``tool`` messages it answers with text that quotes the
results. A JSON-schema ``response_format`` is honoured on every text answer (after tool results
too): the text is a JSON object of that schema, ``$ref``s and nested objects included. On the
Responses API, offered hosted tools (web and file search) are called as OpenAI's server calls
them (``scripted_hosted``).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import msgspec

from app.adapters.upstream import scripted_hosted as hosted
from app.errors import GatewayError
from app.services import responses_convert as rc
from app.services import responses_events as rs

MODELS = (
    "scripted",
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "o3",
    "o4-mini",
)
"""The models the scripted upstream lists and serves (the sample drop-ins use some of them)."""

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'")


def _text_of(content: Any) -> str:
    """Plain text of a message ``content`` (a string or a list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict)
        ).strip()
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _arg_value(schema: dict[str, Any], text: str, defs: dict[str, Any], depth: int = 0) -> Any:
    """A value for one property: taken from the user's text, else a simple default."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and depth < 8:
        return _arg_value(defs.get(ref.rsplit("/", 1)[1]) or {}, text, defs, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key) or [] if o.get("type") != "null"]
        if options and depth < 8:
            return _arg_value(options[0], text, defs, depth + 1)
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    number = _NUMBER.search(text)
    if kind == "integer":
        return int(float(number.group())) if number else 1
    if kind == "number":
        return float(number.group()) if number else 1.0
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return _object(schema, text, defs, depth + 1) if depth < 8 else {}
    quoted = _QUOTED.search(text)
    if quoted:
        return quoted.group(1) or quoted.group(2)
    return text or "scripted"


def _object(
    schema: dict[str, Any], text: str, defs: dict[str, Any], depth: int = 0
) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties") or {}
    return {
        name: _arg_value(props.get(name) or {}, text, defs, depth)
        for name in schema.get("required", [])
    }


def _tool_arguments(parameters: dict[str, Any], text: str) -> dict[str, Any]:
    return _object(parameters, text, parameters.get("$defs") or {})


class _Plan(msgspec.Struct):
    text: str | None = None
    tool_call: dict[str, Any] | None = None  # {"id", "name", "arguments" (JSON text)}


def _relevance(name: str, text: str) -> tuple[int, int]:
    """How well a tool name matches the user's text: whole name first, then its word parts."""
    lowered = text.lower()
    parts = [p for p in re.split(r"[_\-\s]+", name.lower()) if len(p) > 2]
    return (name.lower() in lowered, sum(p in lowered for p in parts))


def _response_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema of a structured-output request (``response_format: json_schema``)."""
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else {}
    return None


def plan_reply(body: dict[str, Any]) -> _Plan:
    """Decide the reply to a chat request: a text answer or one tool call."""
    messages: list[dict[str, Any]] = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    user_text = _text_of(messages[last_user].get("content")) if last_user >= 0 else ""
    after = messages[last_user + 1 :]
    results = [m for m in after if m.get("role") == "tool"]
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("function")]
    if results:
        names: dict[str, str] = {}
        for m in after:
            for call in m.get("tool_calls") or []:
                names[call.get("id", "")] = call.get("function", {}).get("name", "tool")
        parts = [
            f"{names.get(m.get('tool_call_id', ''), 'tool')} returned {_text_of(m.get('content'))}"
            for m in results
        ]
        answer = "Tool results: " + "; ".join(parts).rstrip(".") + "."
        schema = _response_schema(body)
        if schema is not None:  # structured output on the hop after the tools, too
            return _Plan(text=msgspec.json.encode(_tool_arguments(schema, answer)).decode())
        return _Plan(text=answer)
    if tools and body.get("tool_choice") != "none" and last_user >= 0:
        chosen = max(tools, key=lambda t: _relevance(str(t["function"].get("name", "")), user_text))
        fn = chosen["function"]
        args = _tool_arguments(fn.get("parameters") or {}, user_text)
        digest = hashlib.sha256(f"{last_user}:{user_text}:{fn['name']}".encode()).hexdigest()
        return _Plan(
            tool_call={
                "id": "call_" + digest[:24],
                "name": fn["name"],
                "arguments": msgspec.json.encode(args).decode(),
            }
        )
    schema = _response_schema(body)
    if schema is not None:
        return _Plan(text=msgspec.json.encode(_tool_arguments(schema, user_text)).decode())
    if not user_text:
        return _Plan(text="Hello from the scripted upstream.")
    return _Plan(text=f"Scripted answer: {user_text}")


def _last_user_text(body: dict[str, Any]) -> str:
    users = [
        m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"
    ]
    return _text_of(users[-1].get("content")) if users else ""


def _pieces(text: str, parts: int = 3) -> list[str]:
    """Split ``text`` into up to ``parts`` non-empty fragments that join back to it."""
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _sse(obj: Any) -> bytes:
    return b"data: " + msgspec.json.encode(obj) + b"\n\n"


class _Stream(httpx2.AsyncByteStream):
    def __init__(self, frames: list[bytes]) -> None:
        self._frames = frames

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for frame in self._frames:
            yield frame


class ScriptedTransport(httpx2.AsyncBaseTransport):
    """Answers ``POST …/chat/completions``, ``POST …/responses`` and ``GET …/models`` without
    any network."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if request.method == "GET" and path.endswith("/models"):
            data = [
                {"id": model, "object": "model", "created": 0, "owned_by": "ledgergate"}
                for model in MODELS
            ]
            return self._json(200, {"object": "list", "data": data})
        if request.method == "POST" and path.endswith("/responses"):
            return await self._responses(request)
        if request.method != "POST" or not path.endswith("/chat/completions"):
            return self._error(404, f"Unknown route {request.method} {path}", "not_found")
        try:
            body = msgspec.json.decode(await request.aread())
        except msgspec.DecodeError:
            return self._error(400, "The request body is not valid JSON.", "invalid_json")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._error(400, "'messages' is a required property.", "missing_messages")
        if (unknown := self._unknown_model(body)) is not None:
            return unknown
        plan = plan_reply(body)
        if body.get("stream"):
            return httpx2.Response(
                200,
                headers={"content-type": "text/event-stream; charset=utf-8"},
                stream=_Stream(self.stream_frames(body, plan)),
            )
        return self._json(200, self.completion(body, plan))

    async def _responses(self, request: httpx2.Request) -> httpx2.Response:
        """The Responses API: the same script, on the chat translation of the request."""
        try:
            body = msgspec.json.decode(await request.aread())
            if not isinstance(body, dict):
                raise rc.bad("The body must be an object.", "body")
            items = rc.input_items(body.get("input", []))
            functions, offered = hosted.split_tools(body)
            chat = rc.chat_body(functions, rc.to_messages(items, body.get("instructions")))
        except (msgspec.DecodeError, GatewayError) as exc:
            return self._error(400, str(exc), "invalid_request")
        if (unknown := self._unknown_model(body)) is not None:
            return unknown
        user_text = _last_user_text(chat)
        searched = hosted.hosted_call(items, offered, user_text)
        plan = _Plan(text=hosted.answer(searched, user_text)) if searched else plan_reply(chat)
        completion = self.completion(chat, plan)
        digest = completion["id"].removeprefix("chatcmpl-scripted-")
        response_id = "resp_" + (digest + "0" * 32)[:32]
        message = completion["choices"][0]["message"]
        usage = completion["usage"]
        usage = rs.usage(usage["prompt_tokens"], usage["completion_tokens"])
        if not body.get("stream"):
            obj = rs.response_object(
                response_id,
                body,
                created_at=completion["created"],
                status="completed",
                output=([searched] if searched else []) + rc.output_items(response_id, message),
                usage=usage,
            )
            return self._json(200, obj)
        framer = rs.EventFramer(response_id, body)
        frames = framer.start()
        if searched:
            frames += hosted.frames(framer, searched)
        for piece in _pieces(message.get("content") or ""):
            frames += framer.delta({"content": piece}, None)
        for n, call in enumerate(message.get("tool_calls") or ()):
            first = {"index": n, "id": call["id"], "function": {"name": call["function"]["name"]}}
            frames += framer.delta({"tool_calls": [first]}, None)
            for piece in _pieces(call["function"]["arguments"]):
                fragment = {"index": n, "function": {"arguments": piece}}
                frames += framer.delta({"tool_calls": [fragment]}, None)
        frames += framer.delta({}, completion["choices"][0]["finish_reason"])
        framer.usage = usage
        frames += framer.end()
        return httpx2.Response(
            200,
            headers={"content-type": "text/event-stream; charset=utf-8"},
            stream=_Stream(frames),
        )

    def _usage(self, body: dict[str, Any], plan: _Plan) -> dict[str, int]:
        prompt = sum(
            _words(_text_of(m.get("content"))) for m in body["messages"] if isinstance(m, dict)
        )
        call = plan.tool_call
        completion = (
            _words(plan.text)
            if plan.text is not None
            else 1 + _words(call["arguments"])
            if call
            else 0
        )
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _head(self, body: dict[str, Any], plan: _Plan, obj: str) -> dict[str, Any]:
        digest = hashlib.sha256(msgspec.json.encode(body["messages"])).hexdigest()
        return {
            "id": "chatcmpl-scripted-" + digest[:20],
            "object": obj,
            "created": int(self._clock()),
            "model": str(body.get("model") or "scripted"),
            "system_fingerprint": None,
        }

    def completion(self, body: dict[str, Any], plan: _Plan) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": plan.text, "refusal": None}
        finish = "stop"
        if plan.tool_call is not None:
            call = plan.tool_call
            function = {"name": call["name"], "arguments": call["arguments"]}
            message["tool_calls"] = [{"id": call["id"], "type": "function", "function": function}]
            finish = "tool_calls"
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        return {
            **self._head(body, plan, "chat.completion"),
            "choices": [choice],
            "usage": self._usage(body, plan),
        }

    def stream_frames(self, body: dict[str, Any], plan: _Plan) -> list[bytes]:
        head = self._head(body, plan, "chat.completion.chunk")
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if include_usage else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _sse({**head, "choices": [choice], **extra})

        call = plan.tool_call
        if call is None:
            frames = [chunk({"role": "assistant", "content": "", "refusal": None})]
            frames += [chunk({"content": piece}) for piece in _pieces(plan.text or "")]
            frames.append(chunk({}, "stop"))
        else:
            frames = [chunk({"role": "assistant", "content": None, "refusal": None})]
            first = {"name": call["name"], "arguments": ""}
            frames.append(
                chunk(
                    {
                        "tool_calls": [
                            {"index": 0, "id": call["id"], "type": "function", "function": first}
                        ]
                    }
                )
            )
            frames += [
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
                for piece in _pieces(call["arguments"])
            ]
            frames.append(chunk({}, "tool_calls"))
        if include_usage:
            frames.append(_sse({**head, "choices": [], "usage": self._usage(body, plan)}))
        frames.append(b"data: [DONE]\n\n")
        return frames

    @classmethod
    def _unknown_model(cls, body: dict[str, Any]) -> httpx2.Response | None:
        """OpenAI's 404 for a model this upstream does not list (a typo is not answered)."""
        model = body.get("model")
        if model in MODELS:
            return None
        message = f"The model `{model}` does not exist or you do not have access to it."
        return cls._error(404, message, "model_not_found")

    @staticmethod
    def _json(status: int, obj: Any) -> httpx2.Response:
        return httpx2.Response(
            status, headers={"content-type": "application/json"}, content=msgspec.json.encode(obj)
        )

    @classmethod
    def _error(cls, status: int, message: str, code: str) -> httpx2.Response:
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
        return cls._json(status, {"error": error})
