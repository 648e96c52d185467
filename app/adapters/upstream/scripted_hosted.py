"""The scripted upstream's hosted tools: a Responses request that offers ``web_search`` or
``file_search`` gets one call of it (as OpenAI's server runs them: a ``web_search_call`` or
``file_search_call`` output item, then the answer, in the same response) on the last user
message, unless that message already had one. The search is a script: its "results" are the
user's words. Offline tests of hosted-tool governance need nothing more.
"""

from __future__ import annotations

import hashlib
from typing import Any

from app.services import responses_events as rs

TYPES = {
    "web_search": "web_search",
    "web_search_preview": "web_search",
    "file_search": "file_search",
}
_CALL_TYPES = frozenset({"web_search_call", "file_search_call"})


def split_tools(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``body`` without hosted tools (for the chat script), and the hosted tools offered."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return body, []
    hosted = [TYPES[t["type"]] for t in tools if isinstance(t, dict) and t.get("type") in TYPES]
    if not hosted:
        return body, []
    rest = [t for t in tools if not (isinstance(t, dict) and t.get("type") in TYPES)]
    out = {**body, "tools": rest}
    if not rest:
        del out["tools"]
        out.pop("tool_choice", None)
    return out, hosted


def hosted_call(items: list[dict[str, Any]], hosted: list[str], user_text: str) -> dict[str, Any]:
    """The call the script makes, or {} (none offered, or this turn already searched)."""
    if not hosted or not user_text:
        return {}
    users = [n for n, item in enumerate(items) if item.get("role") == "user"]
    after = items[users[-1] + 1 :] if users else items
    if any(item.get("type") in _CALL_TYPES for item in after):
        return {}
    lowered = user_text.lower()
    name = next((h for h in hosted if h.split("_")[0] in lowered), hosted[0])
    digest = hashlib.sha256(f"{name}:{user_text}".encode()).hexdigest()[:32]
    if name == "web_search":
        action = {"type": "search", "query": user_text}
        return {
            "id": "ws_" + digest,
            "type": "web_search_call",
            "status": "completed",
            "action": action,
        }
    return {
        "id": "fs_" + digest,
        "type": "file_search_call",
        "status": "completed",
        "queries": [user_text],
        "results": None,
    }


def answer(call: dict[str, Any], user_text: str) -> str:
    where = "the web" if call["type"] == "web_search_call" else "the files"
    return f"Searched {where} for: {user_text}"


def frames(framer: rs.EventFramer, call: dict[str, Any]) -> list[bytes]:
    """The call's stream events, in OpenAI's order (it is done before the answer starts)."""
    index = len(framer.output)
    framer.output.append(call)
    kind = call["type"]
    where = {"output_index": index, "item_id": call["id"]}
    added = {**call, "status": "in_progress"}
    return [
        framer.frame("response.output_item.added", output_index=index, item=added),
        framer.frame(f"response.{kind}.in_progress", **where),
        framer.frame(f"response.{kind}.searching", **where),
        framer.frame(f"response.{kind}.completed", **where),
        framer.frame("response.output_item.done", output_index=index, item=call),
    ]
