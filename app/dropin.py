"""What drop-in code imports from the gateway: ``gateway_tool`` and ``use_gateway_tool``.

``@gateway_tool`` only marks a function; the tool-module loader collects marked functions.
``use_gateway_tool("name")`` gives an SDK agent a ``FunctionTool`` that runs the gateway tool
through the gateway's ``ToolManager`` (access check, audit events, timeout) for the current request.
``govern_function_tool`` puts an SDK agent's own ``FunctionTool`` under the same governance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from agents.exceptions import AgentsException
from agents.tool import maybe_invoke_function_tool_failure_error_function
from agents.tool_context import ToolContext

from agents import FunctionTool
from app.ports.request_context import current_request
from app.services.agents import DropinError
from app.services.tools import published_spec

__all__ = ("current_request", "gateway_tool", "use_gateway_tool")
"""What drop-ins use; ``current_request.get()`` is the calling request's context (or None)."""

F = TypeVar("F", bound=Callable[..., Any])

MARK_ATTR = "__ledgergate_gateway_tool__"
GATEWAY_TOOL_ATTR = "_ledgergate_gateway_tool"  # on FunctionTools made by use_gateway_tool
GOVERNED_ATTR = "_ledgergate_governed"  # on FunctionTools already wrapped by govern_function_tool


@dataclass(frozen=True, slots=True)
class GatewayToolMark:
    name: str | None = None
    description: str | None = None
    timeout: float | None = None


@overload
def gateway_tool(fn: F, /) -> F: ...


@overload
def gateway_tool(
    *, name: str | None = None, description: str | None = None, timeout: float | None = None
) -> Callable[[F], F]: ...


def gateway_tool(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
) -> Any:
    """Mark ``fn`` as a gateway tool (name: the function's; description: its docstring).

    Usable bare (``@gateway_tool``) or with options (``@gateway_tool(name=..., timeout=2.0)``).
    The function itself is returned unchanged.
    """
    mark = GatewayToolMark(name, description, timeout)

    def apply(func: F) -> F:
        setattr(func, MARK_ATTR, mark)
        return func

    return apply if fn is None else apply(fn)


def gateway_tool_mark(obj: Any) -> GatewayToolMark | None:
    mark = getattr(obj, MARK_ATTR, None)
    return mark if isinstance(mark, GatewayToolMark) else None


def use_gateway_tool(name: str) -> FunctionTool:
    """An SDK ``FunctionTool`` running the loaded gateway tool ``name`` under governance.

    Raises ``DropinError("unknown_gateway_tool")`` if no loaded tool module defines ``name``.
    """
    spec = published_spec(name)
    if spec is None:
        raise DropinError(
            "unknown_gateway_tool",
            f"No gateway tool named '{name}' is loaded.",
            "Define it with @gateway_tool in a module under LEDGERGATE_TOOLS_DIRS, or fix the "
            "failed tool module that defines it (see `ledgergate scan`).",
        )

    async def invoke(ctx: ToolContext[Any], arguments: str) -> str:
        request = current_request.get()
        if request is None or request.tool_manager is None:
            return f"Tool '{name}' is not allowed outside a gateway request."
        result: str = await request.tool_manager.call_gateway_tool(
            name, arguments, call_id=ctx.tool_call_id, source="gateway"
        )
        return result

    tool = FunctionTool(
        name=spec.name,
        description=spec.description,
        params_json_schema=spec.parameters,
        on_invoke_tool=invoke,
        strict_json_schema=spec.strict,
    )
    setattr(tool, GATEWAY_TOOL_ATTR, name)
    return tool


def is_gateway_tool(tool: Any) -> bool:
    """Made by ``use_gateway_tool``: already governed by the ToolManager, wrap it no further."""
    return getattr(tool, GATEWAY_TOOL_ATTR, None) is not None


def govern_function_tool(tool: FunctionTool) -> FunctionTool:
    """Route ``tool``'s calls through the current request's ToolManager (``source="sdk"``).

    Wraps ``on_invoke_tool`` in place, once; gateway tools and already governed tools are left
    as they are. Outside a request the call is refused with a model-visible message.
    """
    if is_gateway_tool(tool) or getattr(tool, GOVERNED_ATTR, False):
        return tool
    original = tool.on_invoke_tool
    # function_tool's invoker turns the tool's own exceptions into a message before we could see
    # them; calling its inner implementation lets the ToolManager record them as tool.failed.
    inner = getattr(original, "_invoke_tool_impl", None)
    name = tool.name

    async def run(ctx: ToolContext[Any], arguments: str) -> Any:
        if inner is None:
            return await original(ctx, arguments)
        try:
            return await inner(ctx, arguments)
        except AgentsException as exc:  # bad arguments, output validation: the SDK's own policy
            message = await maybe_invoke_function_tool_failure_error_function(
                function_tool=tool, context=ctx, error=exc
            )
            if message is None:
                raise
            return message

    async def invoke(ctx: ToolContext[Any], arguments: str) -> Any:
        request = current_request.get()
        if request is None or request.tool_manager is None:
            return f"Tool '{name}' is not allowed outside a gateway request."
        return await request.tool_manager.call_sdk_tool(
            name,
            arguments,
            call_id=ctx.tool_call_id,
            invoke=lambda: run(ctx, arguments),
            reraise=(AgentsException,),
        )

    tool.on_invoke_tool = invoke
    setattr(tool, GOVERNED_ATTR, True)
    return tool
