"""Translation between the Responses API and the chat machinery, both ways.

Requests: Responses input items (messages with content parts, ``function_call``,
``function_call_output``), ``instructions``, function ``tools``, ``tool_choice``, ``text.format``
and ``max_output_tokens`` become a chat-completions ``messages`` list and body, so every backend
(passthrough, declarative agents, SDK drop-ins) serves the route unchanged. Answers: an
assembled assistant message becomes Responses output items. Item ids are derived from the
response id and the item's position, so a response rebuilt from the log has the same ids.
"""

from __future__ import annotations

from typing import Any

from app.errors import BadRequest

_ROLES = frozenset({"user", "system", "developer", "assistant"})
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
# Items a chat model has no use for (a reasoning model's summaries): dropped, not refused,
# so a client replaying its whole history is never rejected for it.
# Hosted tool calls (the upstream ran them) are history a chat model cannot take either.
_SKIPPED_ITEMS = frozenset({"reasoning", "web_search_call", "file_search_call"})
# Responses fields with the same name and meaning in Chat Completions.
_FUNCTION_FIELDS = ("name", "description", "parameters", "strict")
_SAME_FIELDS = ("temperature", "top_p", "parallel_tool_calls", "user", "seed")


def bad(message: str, param: str, code: str = "invalid_value") -> BadRequest:
    return BadRequest(message, param=param, code=code)


def input_items(value: Any) -> list[dict[str, Any]]:
    """``input`` as a list of items (a string is one user message), each checked for shape."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        raise bad("'input' must be a string or an array of input items.", "input", "invalid_type")
    items: list[dict[str, Any]] = []
    for n, item in enumerate(value):
        where = f"input[{n}]"
        if not isinstance(item, dict):
            raise bad(f"'{where}' must be an object.", where, "invalid_type")
        kind = item.get("type", "message")
        if kind == "message":
            _check_message(item, where)
        elif kind == "function_call":
            for name in ("call_id", "name", "arguments"):
                if not isinstance(item.get(name), str):
                    raise bad(f"'{where}.{name}' must be a string.", f"{where}.{name}")
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise bad(f"'{where}.call_id' must be a string.", f"{where}.call_id")
            if not isinstance(item.get("output"), str | list):
                raise bad(f"'{where}.output' must be a string or parts.", f"{where}.output")
        elif kind == "item_reference":
            if not isinstance(item.get("id"), str):
                raise bad(f"'{where}.id' must be a string.", f"{where}.id")
        elif kind not in _SKIPPED_ITEMS:
            raise bad(f"Unsupported input item type {kind!r}.", f"{where}.type")
        items.append({**item, "type": kind})
    return items


def _check_message(item: dict[str, Any], where: str) -> None:
    role = item.get("role")
    if role not in _ROLES:
        raise bad(f"'{where}.role' must be one of {sorted(_ROLES)}.", f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise bad(f"'{where}.content' must be a string or an array of parts.", f"{where}.content")
    for i, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise bad(f"'{where}.content[{i}]' must be a typed part.", f"{where}.content[{i}]")


def to_messages(items: list[dict[str, Any]], instructions: str | None) -> list[dict[str, Any]]:
    """Chat messages for ``items``; consecutive function calls join one assistant message."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for item in items:
        kind = item["type"]
        if kind == "message":
            messages.append(_message(item))
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":  # text, then its calls
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item["call_id"], "content": _text(item["output"])}
            )
    return messages


def sdk_items(items: list[dict[str, Any]], instructions: str | None) -> list[dict[str, Any]]:
    """The items an Agents SDK drop-in runs on: as sent, instructions first, minus reasoning."""
    out = [{"role": "system", "content": instructions}] if instructions else []
    out += [item for item in items if item["type"] not in _SKIPPED_ITEMS]
    return out


def _message(item: dict[str, Any]) -> dict[str, Any]:
    role, content = item["role"], item["content"]
    if role == "assistant" or role in ("system", "developer"):
        return {"role": role, "content": _text(content)}
    if isinstance(content, str):
        return {"role": role, "content": content}
    return {"role": role, "content": [_user_part(p) for p in content]}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for part in content:
        if isinstance(part, dict) and part.get("type") in _TEXT_PARTS:
            texts.append(str(part.get("text", "")))
        elif isinstance(part, dict) and part.get("type") == "refusal":
            texts.append(str(part.get("refusal", "")))
        else:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise bad(f"Only text parts are allowed here, not {kind!r}.", "input")
    return "".join(texts)


def _user_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part["type"]
    if kind in _TEXT_PARTS:
        return {"type": "text", "text": str(part.get("text", ""))}
    if kind == "input_image":
        url = part.get("image_url") or part.get("file_id")
        if not isinstance(url, str):
            raise bad("An input_image part needs an image_url.", "input")
        image: dict[str, Any] = {"url": url}
        if part.get("detail"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        fields = {k: part[k] for k in ("file_data", "file_id", "filename") if k in part}
        return {"type": "file", "file": fields}
    raise bad(f"Unsupported content part type {kind!r}.", "input")


def chat_tools(tools: Any) -> list[dict[str, Any]] | None:
    """Responses function tools → chat tools; any other tool type is refused."""
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise bad("'tools' must be an array.", "tools", "invalid_type")
    out: list[dict[str, Any]] = []
    for n, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise bad(
                f"Only function tools are supported on this gateway, not {kind!r}.",
                f"tools[{n}].type",
                "unsupported_value",
            )
        if not isinstance(tool.get("name"), str):
            raise bad(f"'tools[{n}].name' must be a string.", f"tools[{n}].name")
        function = {
            k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool
        }
        out.append({"type": "function", "function": function})
    return out or None


def chat_tool_choice(choice: Any) -> Any:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise bad("'tool_choice' must be auto, none, required or a function.", "tool_choice")


def response_format(text: Any) -> dict[str, Any] | None:
    """``text.format`` → chat ``response_format`` (None for plain text)."""
    if text is None:
        return None
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None or (isinstance(fmt, dict) and fmt.get("type") == "text"):
        return None
    if not isinstance(fmt, dict):
        raise bad("'text.format' must be an object.", "text.format", "invalid_type")
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        if not isinstance(fmt.get("name"), str) or not isinstance(fmt.get("schema"), dict):
            raise bad("A json_schema format needs a name and a schema.", "text.format")
        keys = ("name", "schema", "strict", "description")
        return {"type": "json_schema", "json_schema": {k: fmt[k] for k in keys if k in fmt}}
    raise bad("'text.format.type' must be text, json_object or json_schema.", "text.format.type")


def chat_body(body: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat-completions body a backend sees (passthrough sends its fields upstream)."""
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    for name in _SAME_FIELDS:
        if body.get(name) is not None:
            chat[name] = body[name]
    tools = chat_tools(body.get("tools"))
    if tools:
        chat["tools"] = tools
    choice = chat_tool_choice(body.get("tool_choice"))
    if choice is not None and tools:
        chat["tool_choice"] = choice
    fmt = response_format(body.get("text"))
    if fmt is not None:
        chat["response_format"] = fmt
    limit = body.get("max_output_tokens")
    if limit is not None:
        chat["max_completion_tokens"] = limit
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        chat["reasoning_effort"] = reasoning["effort"]
    return chat


def output_items(response_id: str, message: dict[str, Any] | None) -> list[dict[str, Any]]:
    """An assembled assistant message → Responses output items (text first, then calls)."""
    if not message:
        return []
    items: list[dict[str, Any]] = []
    if message.get("content"):
        items.append(message_item(response_id, 0, message["content"], "completed"))
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        item = call_item(response_id, len(items), call.get("id") or "", fn.get("name") or "")
        items.append({**item, "arguments": fn.get("arguments") or "", "status": "completed"})
    return items


def response_of_item(item: str) -> str | None:
    """The response an item id of ours belongs to (``msg_<32 hex><index>`` → ``resp_<32 hex>``)."""
    _prefix, _, rest = item.partition("_")
    head = rest[:32]
    if len(head) == 32 and all(c in "0123456789abcdef" for c in head):
        return "resp_" + head
    return None


def item_id(prefix: str, response_id: str, index: int) -> str:
    return f"{prefix}_{response_id.removeprefix('resp_')}{index:02x}"


def message_item(response_id: str, index: int, text: str | None, status: str) -> dict[str, Any]:
    content = [] if text is None else [text_part(text)]
    return {
        "id": item_id("msg", response_id, index),
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def call_item(response_id: str, index: int, call_id: str, name: str) -> dict[str, Any]:
    return {
        "id": item_id("fc", response_id, index),
        "type": "function_call",
        "status": "in_progress",
        "arguments": "",
        "call_id": call_id,
        "name": name,
    }


def listed_input_items(response_id: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` as ``input_items`` lists them: each with an id and its content as parts."""
    listed: list[dict[str, Any]] = []
    for n, item in enumerate(items):
        kind = item["type"]
        out = {k: v for k, v in item.items() if k != "id"}
        prefix = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}
        out["id"] = item.get("id") or item_id(prefix.get(kind, "item"), response_id, 0x80 + n)
        if kind == "message" and isinstance(item.get("content"), str):
            part = "output_text" if item["role"] == "assistant" else "input_text"
            out["content"] = [{"type": part, "text": item["content"]}]
        out.setdefault("status", "completed")
        listed.append(out)
    return listed
