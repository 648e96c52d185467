"""JavaScript clients against a live gateway: the ``openai`` npm package (streaming, the stream
helper, ``runTools``) and the Vercel AI SDK (``ai`` + ``@ai-sdk/openai``: its ``.chat(...)``
provider on Chat Completions, and its default provider ``openai(model)``, which calls
``/v1/responses``: ``generateText``, ``streamText``, with and without tools), pinned by
``tests/clients/node/package-lock.json``. Without node (or before ``npm ci``) they are skipped
with the reason; with ``CI=true`` that is a failure (``.ci/run`` installs them)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.clients.conftest import MODELS, TAKES_CLIENT_TOOLS
from tests.support.live_server import LiveGateway

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPTS = {
    # script: the "ok ..." lines it prints when every check passed
    "openai_npm.mjs": len(MODELS) + 2 * len(TAKES_CLIENT_TOOLS),
    "ai_sdk.mjs": len(MODELS) + len(TAKES_CLIENT_TOOLS),
    "ai_sdk_responses.mjs": len(MODELS) + len(TAKES_CLIENT_TOOLS),
}


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        return "the node clients are not installed: npm ci --prefix tests/clients/node"
    return None


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_node_client_gets_the_same_answer_and_only_its_own_tool_calls(
    gateway: LiveGateway, script: str
) -> None:
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the node client tests: {missing}")
        pytest.skip(missing)
    env = {
        **os.environ,
        "LG_BASE_URL": gateway.base_url + "/v1",
        "LG_API_KEY": gateway.master_key,
    }
    done = subprocess.run(
        ["node", script],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    oks = [line for line in done.stdout.splitlines() if line.startswith("ok ")]
    assert len(oks) == SCRIPTS[script], done.stdout
