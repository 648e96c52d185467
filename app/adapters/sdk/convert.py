"""Chat Completions ``messages`` → Agents SDK input items (the SDK only converts the other way).

The mapping round-trips through the SDK's own ``Converter.items_to_messages``, so what the
client sent is what reaches the upstream: system/developer/user become input messages,
assistant text an output message, assistant ``tool_calls`` ``function_call`` items and
``tool`` messages ``function_call_output`` items.
"""

from __future__ import annotations

from typing import Any

from app.errors import BadRequest

_TEXT_PART_TYPES = {"text", "input_text", "output_text"}


def _text_of(content: Any, role: str) -> str:
    """The text of string content or of a list of text parts (non-user roles)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in _TEXT_PART_TYPES:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise BadRequest(
                    f"A {role} message may only hold text parts, not {kind!r}.", param="messages"
                )
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise BadRequest(f"Unsupported content in a {role} message.", param="messages")


def _user_part(part: Any) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise BadRequest("A content part must be an object.", param="messages")
    kind = part.get("type")
    if kind in _TEXT_PART_TYPES:
        return {"type": "input_text", "text": str(part.get("text", ""))}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        detail = image.get("detail", "auto") if isinstance(image, dict) else "auto"
        return {"type": "input_image", "image_url": url, "detail": detail}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": part.get("input_audio")}
    if kind == "file":
        file = part.get("file") or {}
        item: dict[str, Any] = {"type": "input_file"}
        for key in ("file_data", "file_id", "filename"):
            if file.get(key):
                item[key] = file[key]
        return item
    raise BadRequest(f"Unsupported content part type {kind!r}.", param="messages")


def _user_content(content: Any) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return [_user_part(part) for part in content]
    raise BadRequest("A user message needs string or content-part content.", param="messages")


def _assistant(message: dict[str, Any], n: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    text = _text_of(message.get("content"), "assistant")
    refusal = message.get("refusal")
    if text or refusal:
        content: list[dict[str, Any]] = []
        if text:
            content.append({"type": "output_text", "text": text, "annotations": []})
        if refusal:
            content.append({"type": "refusal", "refusal": str(refusal)})
        items.append(
            {
                "type": "message",
                "id": f"msg_client_{n}",
                "role": "assistant",
                "status": "completed",
                "content": content,
            }
        )
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        if not call.get("id") or not function.get("name"):
            raise BadRequest("Each tool call needs an id and a function name.", param="messages")
        items.append(
            {
                "type": "function_call",
                "call_id": call["id"],
                "name": function["name"],
                "arguments": function.get("arguments") or "{}",
            }
        )
    return items


def to_input_items(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert a chat request's ``messages`` into SDK input items, in order.

    Raises ``BadRequest`` (400) for a message the upstream could not take either.
    """
    items: list[dict[str, Any]] = []
    for n, message in enumerate(messages):
        if not isinstance(message, dict):
            raise BadRequest("Each message must be an object.", param="messages")
        role = message.get("role")
        if role in ("system", "developer"):
            text = _text_of(message.get("content"), role)
            items.append({"type": "message", "role": role, "content": text})
        elif role == "user":
            user = {"type": "message", "role": "user"}
            items.append(user | {"content": _user_content(message.get("content"))})
        elif role == "assistant":
            items.extend(_assistant(message, n))
        elif role == "tool":
            if not message.get("tool_call_id"):
                raise BadRequest("A tool message needs a tool_call_id.", param="messages")
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message["tool_call_id"],
                    "output": _text_of(message.get("content"), "tool"),
                }
            )
        else:
            raise BadRequest(f"Unsupported message role {role!r}.", param="messages")
    return items


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message (an Agent Builder export's ``input_as_text``)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(
                    str(p.get("text", ""))
                    for p in content
                    if isinstance(p, dict) and p.get("type") in _TEXT_PART_TYPES
                )
    return ""
