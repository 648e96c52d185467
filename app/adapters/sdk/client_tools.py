"""A client's ``tools``, ``tool_choice`` and ``response_format`` on an Agents SDK drop-in.

The entry agent is cloned per request (never changed in place: the SDK refuses tool lists that
change under concurrent runs) with:

- each client function tool as a ``FunctionTool`` the gateway never runs: the run stops at it
  (``StopAtTools``) after the gateway's own calls of the same turn have run, and the answer
  ends with the client's ``tool_calls``. The next request, carrying the results, resumes the
  run from the whole conversation, the gateway's held calls restored (``app.services.held``);
- ``tool_choice`` as the agent's ``ModelSettings.tool_choice``;
- a JSON-schema ``response_format`` as the agent's output schema, so the answer's text is the
  JSON object the client's ``.parse()`` validates.

What an agent cannot take is refused with 400 ``unsupported_parameter`` naming the field and
the agent: client tools on an agent whose ``tool_use_behavior`` is its own, and
``response_format`` types other than ``json_schema`` and ``text``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from agents.agent import Agent, StopAtTools
from agents.agent_output import AgentOutputSchemaBase
from agents.run_context import RunContextWrapper
from agents.tool import FunctionTool

from app.errors import BadRequest
from app.ports.chat_backend import ChatRequest

PLACEHOLDER = "[the client runs this tool]"


class ClientOutputSchema(AgentOutputSchemaBase):
    """A client's ``response_format.json_schema`` as the agent's output type."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def is_plain_text(self) -> bool:
        return False

    def name(self) -> str:
        return str(self.spec.get("name") or "response")

    def json_schema(self) -> dict[str, Any]:
        schema = self.spec.get("schema")
        return schema if isinstance(schema, dict) else {"type": "object"}

    def is_strict_json_schema(self) -> bool:
        return bool(self.spec.get("strict"))

    def validate_json(self, json_str: str) -> Any:
        return json.loads(json_str)


def unsupported(field: str, agent: str, why: str) -> BadRequest:
    return BadRequest(
        f"The agent '{agent}' cannot take '{field}': {why}",
        param=field,
        code="unsupported_parameter",
    )


async def _client_runs_it(_ctx: RunContextWrapper[Any], _arguments: str) -> str:
    return PLACEHOLDER  # never sent upstream: the run stops here and the client answers


def is_client_tool(tool: Any) -> bool:
    """A client's tool: it only answers the placeholder, so governance leaves it alone."""
    return getattr(tool, "on_invoke_tool", None) is _client_runs_it


def client_tool_names(request: ChatRequest) -> frozenset[str]:
    return frozenset(
        str((t.get("function") or {}).get("name", ""))
        for t in request.tools or ()
        if isinstance(t, dict) and t.get("type") == "function"
    )


def _function_tool(spec: dict[str, Any]) -> FunctionTool:
    fn = spec.get("function") or {}
    params = fn.get("parameters")
    return FunctionTool(
        name=str(fn.get("name", "")),
        description=str(fn.get("description") or ""),
        params_json_schema=params if isinstance(params, dict) else {"type": "object"},
        on_invoke_tool=_client_runs_it,
        strict_json_schema=bool(fn.get("strict")),
    )


def _tool_choice(choice: Any, agent: str) -> str | None:
    if choice is None or choice in ("auto", "required", "none"):
        return choice  # type: ignore[no-any-return]
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return str(choice["function"].get("name", ""))
    raise unsupported("tool_choice", agent, "use 'auto', 'required', 'none' or a function.")


def _output_schema(response_format: Any, agent: str) -> ClientOutputSchema | None:
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return None
    if kind == "json_schema" and isinstance(response_format.get("json_schema"), dict):
        return ClientOutputSchema(response_format["json_schema"])
    raise unsupported(
        "response_format", agent, "only {'type': 'json_schema', ...} or 'text' is supported."
    )


def for_request(agent: Agent[Any], request: ChatRequest, name: str) -> Agent[Any]:
    """The agent to run for ``request``: ``agent`` itself, or a clone with the client's options."""
    raw = request.raw
    specs = [t for t in request.tools or () if isinstance(t, dict)]
    if any(t.get("type") != "function" for t in specs):
        raise unsupported("tools", name, "only function tools can be sent to an agent.")
    choice = _tool_choice(raw.get("tool_choice"), name)
    schema = _output_schema(raw.get("response_format"), name)
    if not specs and choice is None and schema is None:
        return agent
    changes: dict[str, Any] = {}
    if specs:
        if agent.tool_use_behavior != "run_llm_again":
            raise unsupported("tools", name, "it decides itself when its tool calls end a run.")
        client = [_function_tool(t) for t in specs]
        names = {t.name for t in client}
        own = [t for t in agent.tools if getattr(t, "name", None) not in names]
        changes["tools"] = [*own, *client]
        changes["tool_use_behavior"] = StopAtTools(stop_at_tool_names=sorted(names))
    if choice is not None:
        changes["model_settings"] = dataclasses.replace(agent.model_settings, tool_choice=choice)
    if schema is not None:
        changes["output_type"] = schema
    return agent.clone(**changes)
