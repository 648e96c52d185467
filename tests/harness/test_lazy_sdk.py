"""The Agents SDK (and ``openai`` with it) is imported only when a drop-in needs it, and a gateway
on SQLite never loads alembic (``serve`` migrates in a child), psycopg or Litestar's example
generator (polyfactory, faker): together ~30 MB of RSS.

(``pydantic`` is not checked: Litestar loads its pydantic plugin whenever pydantic is installed.)

Each case runs a fresh interpreter that starts the real app (its lifespan: log, discovery
scan, upstream) and serves one request, then prints which of those packages got imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("agents", "openai", "alembic", "psycopg", "polyfactory", "faker")

SCRIPT = """
import asyncio, json, sys
from litestar.testing import AsyncTestClient
from app.cli.serve import migrate_apart
from app.main import create_app
from app.settings import Settings

settings = Settings(
    database_url="sqlite+aiosqlite:///{db}",
    agents_dirs=({agents!r},),
    tools_dirs=({tools!r},),
    upstream_api_key="sk-unused",
    upstream_base_url="http://127.0.0.1:9/v1",
    master_key="lg-master-lazy",
    watch_dropins=False,
    run_projections=False,
)

async def main():
    assert migrate_apart(settings.database_url) is None  # as ``serve`` does
    async with AsyncTestClient(create_app(settings)) as client:
        ready = await client.get("/readyz")
        key = {{"Authorization": "Bearer lg-master-lazy"}}
        models = await client.get("/v1/models", headers=key)
        await client.get("/schema/openapi.json")
    print(json.dumps({{"ready": ready.status_code, "models": models.status_code,
        "imported": [m for m in {heavy!r} if m in sys.modules]}}))

asyncio.run(main())
"""


def _imported(tmp_path: Path, agents: Path, tools: Path) -> list[str]:
    script = SCRIPT.format(
        db=tmp_path / "log.db", agents=str(agents), tools=str(tools), heavy=HEAVY
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["ready"], result["models"]) == (200, 200)
    return list(result["imported"])


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_a_passthrough_only_gateway_never_imports_the_sdk(tmp_path: Path, empty: Path) -> None:
    assert _imported(tmp_path, empty, empty) == []


def test_a_declarative_agent_needs_no_sdk(tmp_path: Path, empty: Path) -> None:
    agents = tmp_path / "agents"
    (agents / "helper").mkdir(parents=True)
    (agents / "helper" / "agent.toml").write_text('model = "m"\ninstructions = "Be brief."\n')
    assert _imported(tmp_path, agents, empty) == []


def test_a_python_drop_in_runs_in_its_worker_and_a_tool_module_imports_it(
    tmp_path: Path, empty: Path
) -> None:
    agents = tmp_path / "agents"
    (agents / "sdk_one").mkdir(parents=True)
    (agents / "sdk_one" / "agent.py").write_text(
        "from agents import Agent\nagent = Agent(name='sdk_one', instructions='Hi.')\n"
    )
    # The drop-in is imported by its worker process (ADR 0010), never by the gateway.
    assert _imported(tmp_path, agents, empty) == []
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "clock.py").write_text(
        "from app.dropin import gateway_tool\n\n@gateway_tool\ndef now() -> str:\n"
        '    """The time."""\n    return "noon"\n'
    )
    assert "agents" in _imported(tmp_path, empty, tools)
