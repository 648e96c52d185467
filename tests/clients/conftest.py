"""A live gateway (uvicorn on loopback) serving the three sample drop-ins on the offline
``scripted`` upstream, shared by the real third-party clients of this folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fixtures import make_settings
from tests.support.live_server import LiveGateway

ROOT = Path(__file__).resolve().parents[2]
PASSTHROUGH = "gpt-4o-mini"

# One question per model whose answer does not change between two calls (no clock in it).
QUESTIONS: dict[str, str] = {
    "assistant": 'Use word_count: how many words in "to be or not to be"?',
    "concierge": 'What are the office_hours in "Paris"?',
    "refund_desk": 'Can I return my "kettle"?',
    PASSTHROUGH: "Say hello to Ada.",
}
MODELS = list(QUESTIONS)
# A question that makes the scripted upstream pick the client's `lookup` tool.
LOOKUP_QUESTION = 'Please lookup "kettle" with the lookup tool.'
LOOKUP_RESULT = "kettle: in stock"
# Agent Builder exports run their own workflow: client tools and formats are refused (400).
TAKES_CLIENT_TOOLS = ["assistant", "concierge", PASSTHROUGH]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    home = tmp_path_factory.mktemp("clients")
    settings = make_settings(
        home,
        agents_dirs=[str(ROOT / "src" / "agents")],
        tools_dirs=[str(ROOT / "src" / "tools")],
    )
    with LiveGateway(settings).start() as gw:
        yield gw


def lookup_tool() -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a product up in the stock list.",
            "parameters": {
                "type": "object",
                "properties": {"product": {"type": "string"}},
                "required": ["product"],
            },
        },
    }
