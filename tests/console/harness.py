"""A gateway that has served real traffic, and Debian's Chromium, for the console's browser tests.

Also used by ``python -m tests.console.screenshots`` (the PNGs in docs/console/).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import httpx

from tests.support.fixtures import make_settings
from tests.support.live_server import LiveGateway

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
BROKEN_DROPIN = "import weather_sdk  # not installed\nfrom agents import Agent\nagent = Agent()\n"


def chromium() -> str | None:
    """Debian's Chromium, or None (the browser tests skip; with CI=true they fail instead)."""
    return CHROMIUM if os.access(CHROMIUM, os.X_OK) else None


def populated_gateway(home: Path) -> LiveGateway:
    """The sample drop-ins and tools, one failing drop-in, the offline upstream, and traffic."""
    agents = home / "agents"
    shutil.copytree(ROOT / "src" / "agents", agents)
    (agents / "weather").mkdir()
    (agents / "weather" / "agent.py").write_text(BROKEN_DROPIN)
    tools = home / "tools"
    shutil.copytree(ROOT / "src" / "tools", tools)
    settings = make_settings(home, agents_dirs=agents, tools_dirs=tools)
    gw = LiveGateway(settings).start()
    try:
        serve_traffic(gw)
    except BaseException:
        gw.stop()
        raise
    return gw


def chat(gw: LiveGateway, model: str, text: str, key: str | None = None, **extra: Any) -> str:
    """One chat completion through the gateway; returns its request id."""
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    with httpx.Client(timeout=60) as client:
        if extra.get("stream"):
            with client.stream(
                "POST", gw.url("/v1/chat/completions"), headers=gw.headers(key), json=body
            ) as response:
                response.read()
        else:
            url = gw.url("/v1/chat/completions")
            response = client.post(url, headers=gw.headers(key), json=body)
    return str(response.headers["x-request-id"])


def serve_traffic(gw: LiveGateway) -> dict[str, str]:
    """Requests of every kind: a declarative agent's tool call, an SDK agent, passthrough,
    streamed, a tool denied by the key's policy, a model refused (403). Returns their ids."""
    ids = {
        "tool": chat(gw, "assistant", "What time is it in UTC? Use get_time."),
        "sdk": chat(gw, "concierge", 'What are the office_hours in "Paris"?'),
        "stream": chat(gw, "gpt-4o-mini", "Stream me a short hello.", stream=True),
        "words": chat(gw, "assistant", "How many words: one two three? Use word_count."),
    }
    limited = httpx.post(
        gw.url("/admin/keys"),
        headers=gw.headers(),
        json={"name": "limited", "agents": ["concierge"], "tools": []},
        timeout=30,
    ).json()["key"]
    ids["tool_denied"] = chat(gw, "concierge", 'Office hours in "Rome"?', key=limited)
    ids["model_denied"] = chat(gw, "assistant", "What time is it?", key=limited)
    return ids
