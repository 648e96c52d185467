"""What drop-in code imports from the gateway: ``gateway_tool`` and ``use_gateway_tool``.

``@gateway_tool`` only marks a function; the tool-module loader collects marked functions.
``use_gateway_tool("name")`` gives an SDK agent a ``FunctionTool`` that runs the gateway tool
through the gateway's ``ToolManager`` (access check, audit events, timeout) for the current request.
``govern_function_tool`` puts an SDK agent's own ``FunctionTool`` under the same governance.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from agents.exceptions import AgentsException
from agents.tool_context import ToolContext

from agents import FunctionTool, ToolErrorFormatter, ToolErrorFormatterArgs
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


# The exceptions a governed tool's own invoker turned into a message, for the call running now.
_swallowed: ContextVar[list[Exception] | None] = ContextVar("ledgergate_tool_errors", default=None)


def tool_error_formatter(theirs: ToolErrorFormatter | None = None) -> ToolErrorFormatter:
    """A ``RunConfig.tool_error_formatter`` that hands a governed tool's exception to its wrapper.

    The SDK's function-tool invoker turns the tool's own exceptions into a message for the model
    and calls this formatter (public API) with the original exception on the way. The governed
    wrapper then raises it, so the ToolManager records ``tool.failed`` with the exception's type.
    The message itself stays the SDK's (or ``theirs``, a formatter the run already had).
    """

    async def formatter(args: ToolErrorFormatterArgs[Any]) -> str | None:
        held = _swallowed.get()
        if held is not None and args.kind == "tool_exception" and args.error is not None:
            held.append(args.error)
        if theirs is None:
            return None
        message = theirs(args)
        return await message if inspect.isawaitable(message) else message

    return formatter


def govern_function_tool(tool: FunctionTool) -> FunctionTool:
    """Route ``tool``'s calls through the current request's ToolManager (``source="sdk"``).

    Wraps ``on_invoke_tool`` in place, once; gateway tools and already governed tools are left
    as they are. Outside a request the call is refused with a model-visible message. The run
    must use ``tool_error_formatter()`` for the tool's own exceptions to count as failures.
    """
    if is_gateway_tool(tool) or getattr(tool, GOVERNED_ATTR, False):
        return tool
    original = tool.on_invoke_tool
    name = tool.name

    async def run(ctx: ToolContext[Any], arguments: str) -> Any:
        held: list[Exception] = []
        token = _swallowed.set(held)
        try:
            result = await original(ctx, arguments)
        finally:
            _swallowed.reset(token)
        # Bad arguments or output validation (the SDK's own errors) stay the SDK's message.
        if held and not isinstance(held[-1], AgentsException):
            raise held[-1]
        return result

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
