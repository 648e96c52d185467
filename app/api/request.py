"""The chat-completions request as OpenAI checks it: types and ranges of the fields it knows.

One ``msgspec.convert`` of the decoded body into these Structs checks everything at C speed;
unknown fields are ignored here and passed on as sent (``ChatRequest.raw``). A mistake is a 400
``invalid_request_error`` whose ``param`` names the field (``messages[2].tool_calls[0].function``),
as OpenAI answers, before anything reaches an agent or the upstream.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from app.errors import BadRequest, GatewayError
from app.ports.chat_backend import ChatRequest

Unit = Annotated[float, Meta(ge=0, le=1)]
Penalty = Annotated[float, Meta(ge=-2, le=2)]
Positive = Annotated[int, Meta(ge=1)]
ToolName = Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]


class _Part(msgspec.Struct, kw_only=True, tag_field="type"):
    pass


class TextPart(_Part, tag="text"):
    text: str


class ImageURL(msgspec.Struct, kw_only=True):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Part, tag="image_url"):
    image_url: ImageURL


class InputAudio(msgspec.Struct, kw_only=True):
    data: str
    format: str


class AudioPart(_Part, tag="input_audio"):
    input_audio: InputAudio


class FileRef(msgspec.Struct, kw_only=True):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(_Part, tag="file"):
    file: FileRef


class RefusalPart(_Part, tag="refusal"):
    refusal: str


UserPart = TextPart | ImagePart | AudioPart | FilePart


class CalledFunction(msgspec.Struct, kw_only=True):
    name: str
    arguments: str


class ToolCallIn(msgspec.Struct, kw_only=True):
    id: str
    function: CalledFunction
    type: Literal["function"] = "function"


class _Message(msgspec.Struct, kw_only=True, tag_field="role"):
    name: str | None = None


class SystemMessage(_Message, tag="system"):
    content: str | list[TextPart]


class DeveloperMessage(_Message, tag="developer"):
    content: str | list[TextPart]


class UserMessage(_Message, tag="user"):
    content: str | list[UserPart]


class AssistantMessageIn(_Message, tag="assistant"):
    content: str | list[TextPart | RefusalPart] | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallIn] | None = None


class ToolMessage(_Message, tag="tool"):
    content: str | list[TextPart]
    tool_call_id: str


class FunctionMessage(_Message, tag="function"):
    content: str | None


Message = (
    SystemMessage
    | DeveloperMessage
    | UserMessage
    | AssistantMessageIn
    | ToolMessage
    | FunctionMessage
)


class FunctionDefinition(msgspec.Struct, kw_only=True):
    name: ToolName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ChatCompletionFunctionTool(msgspec.Struct, kw_only=True):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(msgspec.Struct, kw_only=True):
    name: str


class NamedToolChoice(msgspec.Struct, kw_only=True):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(msgspec.Struct, kw_only=True):
    name: Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    description: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None


class _Format(msgspec.Struct, kw_only=True, tag_field="type"):
    pass


class TextFormat(_Format, tag="text"):
    pass


class JsonObjectFormat(_Format, tag="json_object"):
    pass


class JsonSchemaResponse(_Format, tag="json_schema"):
    json_schema: JsonSchemaFormat


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool | None = None


class ChatCompletionRequest(msgspec.Struct, kw_only=True):
    """What the gateway checks of a request. Other OpenAI fields are accepted and passed on."""

    model: str
    messages: list[Message]
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    tools: list[ChatCompletionFunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: TextFormat | JsonObjectFormat | JsonSchemaResponse | None = None
    max_tokens: Positive | None = None
    max_completion_tokens: Positive | None = None
    n: Positive | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    top_p: Unit | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None
    logit_bias: dict[str, Annotated[float, Meta(ge=-100, le=100)]] | None = None
    seed: int | None = None
    stop: str | Annotated[list[str], Meta(max_length=4)] | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None


_AT = re.compile(r"at `\$\.?([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]+)`")
_RANGE = re.compile(r"Expected `[^`]+` (<=|>=|of length <=) ")


def validate(raw: dict[str, Any], max_messages: int = 0) -> ChatRequest:
    """A decoded body → ``ChatRequest``, or ``BadRequest`` naming the offending parameter.

    ``max_messages`` (when > 0) caps ``messages``: a longer history is a 400, before any work.
    """
    messages = raw.get("messages")
    if max_messages > 0 and isinstance(messages, list) and len(messages) > max_messages:
        raise BadRequest(
            f"Invalid 'messages': array too long. Expected an array with maximum length"
            f" {max_messages}, but got an array with length {len(messages)} instead.",
            param="messages",
            code="array_above_max_length",
        )
    try:
        req = msgspec.convert(raw, ChatCompletionRequest)
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc)) from exc
    if not req.messages:
        raise BadRequest("'messages' must contain at least one message.", param="messages")
    if req.n not in (None, 1):
        raise BadRequest("Only n=1 is supported.", param="n", code="unsupported_value")
    _check_tool_choice(req)
    options = req.stream_options
    if options is not None and not req.stream:
        raise BadRequest(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    if req.tools:
        _check_parameters(req.tools)
    return ChatRequest(
        model=req.model,
        messages=raw["messages"],
        stream=bool(req.stream),
        include_usage=bool(options and options.include_usage),
        tools=raw.get("tools") or None,
        max_tokens=req.max_completion_tokens or req.max_tokens,
        raw=raw,
    )


def _check_tool_choice(req: ChatCompletionRequest) -> None:
    choice = req.tool_choice
    if choice is None or choice in ("none", "auto"):
        return
    if not req.tools:
        raise BadRequest(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are"
            " specified.",
            param="tool_choice",
            code="invalid_value",
        )
    if isinstance(choice, NamedToolChoice):
        names = {tool.function.name for tool in req.tools}
        if choice.function.name not in names:
            raise BadRequest(
                f"Invalid value for 'tool_choice': tool '{choice.function.name}' is not in"
                " 'tools'.",
                param="tool_choice",
                code="invalid_value",
            )


def _check_parameters(tools: list[ChatCompletionFunctionTool]) -> None:
    """A tool's ``parameters`` is a JSON Schema object: ``properties`` an object of schemas."""
    for i, tool in enumerate(tools):
        schema = tool.function.parameters
        if schema is None:
            continue
        where = f"tools[{i}].function.parameters"
        kind = schema.get("type", "object")
        if kind != "object":
            raise BadRequest(
                f"Invalid schema for function '{tool.function.name}': schema must be a JSON"
                f" Schema of 'type: \"object\"', got 'type: {kind!r}'.",
                param=where,
                code="invalid_function_parameters",
            )
        properties = schema.get("properties", {})
        if not isinstance(properties, dict) or not all(
            isinstance(p, dict | bool) for p in properties.values()
        ):
            raise BadRequest(
                f"Invalid schema for function '{tool.function.name}': 'properties' must be an"
                " object whose values are schemas.",
                param=f"{where}.properties",
                code="invalid_function_parameters",
            )
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise BadRequest(
                f"Invalid schema for function '{tool.function.name}': 'required' must be an"
                " array of property names.",
                param=f"{where}.required",
                code="invalid_function_parameters",
            )


def _invalid(detail: str) -> GatewayError:
    missing = _MISSING.search(detail)
    at = _AT.search(detail)
    where = at.group(1).replace("[...]", "") if at else ""  # a dict value: name the dict
    if missing:
        param = f"{where}.{missing.group(1)}" if where else missing.group(1)
        return BadRequest(
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )
    code = "invalid_value" if _RANGE.search(detail) or "Invalid value" in detail else "invalid_type"
    return BadRequest(f"Invalid request: {detail}", param=where or None, code=code)
