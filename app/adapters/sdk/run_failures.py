"""Agents SDK exceptions → gateway errors (HTTP statuses), translated once, here.

Guardrail tripwires are the caller's input or the agent's policy (400/403), running out of
turns is 422, a model that misbehaves or an agent that crashes is the gateway's upstream
failing (502), timeouts 504; upstream failures arrive already translated by the upstream port.
"""

from __future__ import annotations

from agents.exceptions import (
    AgentsException,
    InputGuardrailTripwireTriggered,
    MaxTurnsExceeded,
    ModelBehaviorError,
    ModelRefusalError,
    ModelTimeoutError,
    OutputGuardrailTripwireTriggered,
    ToolInputGuardrailTripwireTriggered,
    ToolOutputGuardrailTripwireTriggered,
    ToolTimeoutError,
    UserError,
)

from app.errors import (
    BadRequest,
    Forbidden,
    GatewayError,
    Unprocessable,
    UpstreamError,
    UpstreamTimeout,
)
from app.services.tools import ToolCallAborted


def _guardrail_name(exc: AgentsException) -> str:
    result = getattr(exc, "guardrail_result", None)
    guardrail = getattr(result, "guardrail", None) or getattr(result, "tool_guardrail", None)
    getter = getattr(guardrail, "get_name", None)
    return str(getter()) if callable(getter) else type(exc).__name__


def to_gateway_error(exc: BaseException, agent: str) -> GatewayError:
    """The error a client should see for ``exc`` raised by the run of drop-in ``agent``."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, InputGuardrailTripwireTriggered):
        return BadRequest(
            f"The input was blocked by guardrail '{_guardrail_name(exc)}'.",
            code="input_guardrail_triggered",
        )
    if isinstance(exc, OutputGuardrailTripwireTriggered):
        return BadRequest(
            f"The answer was blocked by guardrail '{_guardrail_name(exc)}'.",
            code="output_guardrail_triggered",
        )
    if isinstance(exc, ToolInputGuardrailTripwireTriggered | ToolOutputGuardrailTripwireTriggered):
        return Forbidden(
            f"A tool call was blocked by guardrail '{_guardrail_name(exc)}'.",
            code="tool_guardrail_triggered",
        )
    if isinstance(exc, ToolCallAborted):
        return Forbidden(exc.message, code=f"tool_{exc.outcome}")
    if isinstance(exc, MaxTurnsExceeded):
        return Unprocessable(
            f"Agent '{agent}' did not finish within its turn limit.", code="max_turns_exceeded"
        )
    if isinstance(exc, ModelTimeoutError | ToolTimeoutError | TimeoutError):
        return UpstreamTimeout(f"Agent '{agent}' timed out.")
    if isinstance(exc, ModelBehaviorError | ModelRefusalError):
        return UpstreamError(
            f"The model misbehaved while running agent '{agent}': {exc}", code="model_behavior"
        )
    if isinstance(exc, UserError):
        return UpstreamError(f"Agent '{agent}' is misconfigured: {exc}", code="agent_error")
    # A drop-in's own bug: say which agent and what kind, never a trace.
    return UpstreamError(f"Agent '{agent}' failed: {type(exc).__name__}.", code="agent_error")
