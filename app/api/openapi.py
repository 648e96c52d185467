"""The gateway's OpenAPI document: titled Ledgergate, bearer keys, our request and error schemas.

Served as JSON only, at ``/schema/openapi.json`` (no browsable page: those load scripts from a
CDN, which an offline gateway cannot reach). The chat request schema is generated from the same
msgspec Structs that check requests (``app.api.request``), and every 4xx/5xx answer is documented
as OpenAI's ``{"error": {...}}`` body that the gateway really sends.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import msgspec
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import (
    Components,
    Discriminator,
    OpenAPI,
    OpenAPIResponse,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec import OpenAPIMediaType as MediaTypeSpec
from litestar.openapi.spec.enums import OpenAPIType

from app.api.request import ChatCompletionRequest
from app.errors import ErrorResponse

_REF = "#/components/schemas/{name}"
PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})
"""Routes that need no key."""

_ERRORS = {
    "400": "Invalid request (the `param` names the field)",
    "401": "No, unknown or revoked API key",
    "403": "The key may not do this",
    "404": "Unknown model or route",
    "413": "Body larger than LEDGERGATE_MAX_BODY_BYTES",
    "422": "An agent could not finish (tool hops, turns)",
    "429": "The upstream rate-limited the request",
    "500": "A bug of the gateway (no detail is sent)",
    "502": "The upstream or a drop-in failed",
    "503": "The event log cannot be written (Retry-After) or a drop-in failed to load",
    "504": "The upstream or an agent run timed out",
}
_CHAT_ERRORS = tuple(_ERRORS)
_OTHER_ERRORS = ("400", "401", "403", "404", "500", "503")

_KEYS = {
    "title": "title",
    "description": "description",
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusiveMinimum": "exclusive_minimum",
    "exclusiveMaximum": "exclusive_maximum",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minItems": "min_items",
    "maxItems": "max_items",
    "pattern": "pattern",
    "enum": "enum",
    "const": "const",
    "default": "default",
    "required": "required",
    "format": "format",
}


def gateway_version() -> str:
    try:
        return package_version("ledgergate")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0"


def _schema(node: Any) -> Schema | Reference:
    """A JSON Schema (as msgspec writes it) as Litestar's OpenAPI ``Schema`` objects."""
    if not isinstance(node, dict):
        return Schema()
    if "$ref" in node:
        return Reference(ref=node["$ref"])
    kwargs: dict[str, Any] = {_KEYS[k]: v for k, v in node.items() if k in _KEYS}
    kind = node.get("type")
    if isinstance(kind, str):
        kwargs["type"] = OpenAPIType(kind)
    if "properties" in node:
        kwargs["properties"] = {k: _schema(v) for k, v in node["properties"].items()}
    if "items" in node:
        kwargs["items"] = _schema(node["items"])
    for key, field in (("anyOf", "any_of"), ("oneOf", "one_of"), ("allOf", "all_of")):
        if key in node:
            kwargs[field] = [_schema(v) for v in node[key]]
    extra = node.get("additionalProperties")
    if isinstance(extra, bool):
        kwargs["additional_properties"] = extra
    elif isinstance(extra, dict):
        kwargs["additional_properties"] = _schema(extra)
    if "discriminator" in node:
        found = node["discriminator"]
        kwargs["discriminator"] = Discriminator(
            property_name=found["propertyName"], mapping=found.get("mapping")
        )
    return Schema(**kwargs)


def _components() -> tuple[Schema, dict[str, Schema]]:
    (_request, _error), defs = msgspec.json.schema_components(
        [ChatCompletionRequest, ErrorResponse], ref_template=_REF
    )
    schemas: dict[str, Schema] = {}
    for name, node in defs.items():
        schema = _schema(node)
        assert isinstance(schema, Schema)  # a definition is never a bare reference
        schemas[name] = schema
    inline = schemas.pop("ChatCompletionRequest")  # inline in the operation, refs inside
    return inline, schemas


CHAT_REQUEST, _SCHEMAS = _components()


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Ledgergate",
        version=gateway_version(),
        description=(
            "OpenAI-compatible gateway for Agents SDK drop-ins, with an audited event log."
            ' Errors are OpenAI\'s `{"error": {message, type, param, code}}`.'
        ),
        security=[{"bearer": []}],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API key: the master key or one from `ledgergate keys create`.",
                )
            },
        ),
        path="/schema",
        render_plugins=[JsonRenderPlugin()],
    )


def _error_response(status: str) -> OpenAPIResponse:
    schema = Reference(ref=_REF.format(name="ErrorResponse"))
    return OpenAPIResponse(
        description=_ERRORS[status], content={"application/json": MediaTypeSpec(schema=schema)}
    )


def document_errors(document: OpenAPI) -> None:
    """Add our schemas; replace Litestar's ``{status_code, detail}`` errors with the body we send.

    (Litestar builds ``components.schemas`` from the handlers' types alone, so ours go in here.)
    """
    if document.components is not None:  # always, with security schemes configured
        schemas = document.components.schemas
        document.components.schemas = {**_SCHEMAS, **(schemas or {})}
    for path, item in (document.paths or {}).items():
        for method in ("get", "post", "put", "patch", "delete"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            responses = operation.responses or {}
            for status in list(responses):
                if status[0] in "45":
                    del responses[status]
            if path in PUBLIC_PATHS:
                operation.security = []
                continue
            for status in _CHAT_ERRORS if path == "/v1/chat/completions" else _OTHER_ERRORS:
                responses[status] = _error_response(status)
            operation.responses = responses
