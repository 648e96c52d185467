"""The README's tour runs as written: its ``sh`` blocks and Python snippet against a live gateway.

Every fenced ``sh`` block except the ``make`` one is run, in order, in one ``bash -eu`` session
(so variables carry over, as in a reader's terminal), from a scratch copy of the repository's
drop-in folders, against a real gateway whose log is that copy's ``var/ledgergate.db`` and whose
master key is in ``var/master.key``: the CLI commands run with their defaults, as a reader's do.
Only the address changes: ``http://127.0.0.1:8080`` becomes the test gateway's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.live_server import LiveGateway

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_URL = "http://127.0.0.1:8080"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)

# (text that picks the block, patterns its output must contain): what a reader should see.
EXPECTED: list[tuple[str, list[str]]] = [
    ("cat var/master.key", [r'"id":"assistant"', r'"id":"concierge"', r'"id":"refund_desk"']),
    (
        '"model": "assistant", "messages"',
        [
            r'"object":"chat.completion"',
            r"get_time returned",
            r'"delta":\{"ledgergate_tool_call":\{"id":"call_\w+","name":"get_time"',
            r'"status":"completed","output":',
            r'"finish_reason":"stop"',
            r"data: \[DONE\]",
        ],
    ),
    (
        '"model": "concierge"',
        [
            r"office_hours returned \{\\\"city\\\": \\\"Paris\\\"",
            r"refund_policy returned kettle: full refund",
        ],
    ),
    ("src/agents/hello/agent.py", [r"loaded\s+hello\s+sdk", r"0 failed"]),
    ('"model": "hello"', [r'"model":"hello"', r"Scripted answer: Hi, I am Ada\."]),
    (
        "src/agents/broken",
        [
            r"FAILED\s+broken\s+agent\s+missing_dependency",
            r"fix: pip install weather-sdk",
            r"scan exit code: 1",
        ],
    ),
    (
        "keys create --name demo",
        [
            r"key: lg-",
            r'\{"data":\[\{"id":"assistant","created":0,"owned_by":"ledgergate","object":"model"\}\],'
            r'"object":"list"\}',
            r"get_time returned",
            r"(^|\})403$",
            r"demo\s+active\s+agents=\[assistant\] tools=\[get_time\] models=\[\]",
        ],
    ),
    ("-X DELETE", [r'"revoked":true', r"(^|\})401$"]),
    (
        "events verify",
        [
            r"^ok \d+ events$",
            r'"type":"request.received"',
            r'"type":"tool.invoked"[^\n]*"tool":"word_count"',
            r'"type":"request.completed"',
            r'"result": "6"',
            r'"status": "completed"',
            r"ok: \d+ events of request:chatcmpl-\w+ are in the log ledgergate\.local/log",
        ],
    ),
]


def readme_blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(README.read_text("utf-8")) if kind == lang]


def tour_blocks() -> list[str]:
    """The ``sh`` blocks a reader runs in the tour (not the ``make run``/``make test`` block)."""
    out = []
    for body in readme_blocks("sh"):
        commands = [ln for ln in body.splitlines() if ln.strip() and not ln.startswith("#")]
        if not all(ln.startswith("make ") for ln in commands):
            out.append(body)
    return out


def _env(extra: dict[str, str]) -> dict[str, str]:
    # A reader's shell: no gateway or upstream settings leaking in from the test run's own env.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEDGERGATE_", "OPENAI_")) and k != "VIRTUAL_ENV"
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.fixture
def tour_gateway(
    tmp_path: Path, gateway_factory: Callable[..., LiveGateway]
) -> tuple[Path, LiveGateway]:
    home = tmp_path / "repo"
    shutil.copytree(ROOT / "src", home / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (home / "var").mkdir()
    gateway = gateway_factory(
        database_url=f"sqlite+aiosqlite:///{home}/var/ledgergate.db",
        agents_dirs=(str(home / "src" / "agents"),),
        tools_dirs=(str(home / "src" / "tools"),),
    )
    (home / "var" / "master.key").write_text(gateway.master_key + "\n")
    return home, gateway


def test_the_readme_starts_with_make_run_and_make_test() -> None:
    first = readme_blocks("sh")[0]
    assert [ln.split("#")[0].strip() for ln in first.splitlines()] == ["make run", "make test"]


def test_every_tour_block_runs_and_shows_what_the_readme_says(
    tour_gateway: tuple[Path, LiveGateway],
) -> None:
    home, gateway = tour_gateway
    blocks = tour_blocks()
    assert len(blocks) >= len(EXPECTED)
    script = "\n".join(
        f"echo; echo '@@block {i}@@'\n{body.replace(README_URL, gateway.base_url)}"
        for i, body in enumerate(blocks)
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=home,
        env=_env({}),
        check=False,
        capture_output=True,
        text=True,
        timeout=90,
    )
    outputs = re.split(r"^@@block (\d+)@@\n", done.stdout, flags=re.M)
    by_block = {int(outputs[i]): outputs[i + 1] for i in range(1, len(outputs) - 1, 2)}
    ran = len(by_block)
    assert done.returncode == 0, (
        f"README block {ran - 1} failed (exit {done.returncode}):\n{blocks[ran - 1]}\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )
    assert ran == len(blocks)
    for marker, patterns in EXPECTED:
        matching = [i for i, body in enumerate(blocks) if marker in body]
        assert matching, f"no README sh block contains {marker!r}"
        output = "".join(by_block[i] for i in matching)
        for pattern in patterns:
            assert re.search(pattern, output, re.M), (
                f"README block with {marker!r}: {pattern!r} not in its output:\n{output[-3000:]}"
            )


def test_the_python_snippet_streams_a_tool_call(tour_gateway: tuple[Path, LiveGateway]) -> None:
    home, gateway = tour_gateway
    (snippet,) = readme_blocks("python")
    done = subprocess.run(
        [sys.executable, "-c", snippet.replace(README_URL, gateway.base_url)],
        cwd=home,
        env=_env({"ADMIN_KEY": gateway.master_key}),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert '[gateway tool office_hours started] {"city":"Tokyo"}' in done.stdout
    assert "[gateway tool office_hours completed]" in done.stdout
    assert "office_hours returned" in done.stdout
    assert done.stdout.rstrip().endswith("[finish_reason: stop]")
