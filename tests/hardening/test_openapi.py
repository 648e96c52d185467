"""The OpenAPI document describes the gateway as it is: name, keys, bodies and errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from tests.support.live_server import LiveGateway


def test_the_openapi_document_is_ledgergates_own(
    gateway_factory: Callable[..., LiveGateway],
) -> None:
    gw = gateway_factory()
    response = httpx.get(gw.url("/schema/openapi.json"))
    assert response.status_code == 200
    doc = response.json()
    assert doc["info"]["title"] == "Ledgergate" and doc["info"]["version"] == "0.1.0"
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    assert doc["security"] == [{"bearer": []}]
    assert doc["paths"]["/healthz"]["get"]["security"] == []

    post = doc["paths"]["/v1/chat/completions"]["post"]
    request = post["requestBody"]["content"]["application/json"]["schema"]
    fields = request["properties"]
    assert {"temperature", "top_p", "tools", "tool_choice", "response_format"} <= set(fields)
    assert {"type": "number", "minimum": 0, "maximum": 2} in fields["temperature"]["anyOf"]
    messages = fields["messages"]["items"]
    assert messages["discriminator"]["propertyName"] == "role"
    assert set(messages["discriminator"]["mapping"]) == {
        "system", "developer", "user", "assistant", "tool", "function"
    }  # fmt: skip

    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for status in ("400", "401", "404", "413", "502", "503"):
        assert post["responses"][status]["content"]["application/json"]["schema"] == error_ref
    assert (
        doc["paths"]["/admin/keys"]["post"]["responses"]["401"]["content"]["application/json"][
            "schema"
        ]
        == error_ref
    )
    error = doc["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["error"]
    body = doc["components"]["schemas"]["ErrorBody"]
    assert set(body["properties"]) == {"message", "type", "param", "code"}
    assert "status_code" not in json.dumps(doc)  # Litestar's own error body is gone

    # The document at /schema too (no HTML page pulling scripts from a CDN).
    root = httpx.get(gw.url("/schema"))
    assert root.status_code == 200 and root.json()["info"]["title"] == "Ledgergate"
    for page in ("/schema/swagger", "/schema/redoc", "/schema/elements"):
        assert httpx.get(gw.url(page)).status_code == 404
