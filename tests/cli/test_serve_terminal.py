"""What ``ledgergate serve`` writes to its terminal: each drop-in the watcher loads or fails,
and one access line per request (request id, model, status, ms) in the gateway's format."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.serve import ROOT, serve_env, serving


def test_serve_names_watched_dropins_and_logs_one_access_line_per_request(
    tmp_path: Path,
) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    env = serve_env(
        {
            "LEDGERGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'log.db'}",
            "LEDGERGATE_MASTER_KEY": "mk-test",
            "LEDGERGATE_AGENTS_DIRS": str(agents),
            "LEDGERGATE_TOOLS_DIRS": str(ROOT / "src" / "tools"),
        }
    )
    headers = {"Authorization": "Bearer mk-test"}
    with serving(env, tmp_path) as server:
        base = server.base
        (agents / "hello").mkdir()
        (agents / "hello" / "agent.toml").write_text(
            'model = "gpt-4o-mini"\ninstructions = "Greet."\n', encoding="utf-8"
        )
        (agents / "broken").mkdir()
        (agents / "broken" / "agent.toml").write_text("model = \n", encoding="utf-8")

        def served() -> bool:
            models = httpx.get(f"{base}/v1/models", headers=headers, timeout=5).json()
            return "hello" in {m["id"] for m in models["data"]}

        server.wait_until(served, "the watcher to load hello")
        body = {"model": "hello", "messages": [{"role": "user", "content": "hi"}]}
        answer = httpx.post(f"{base}/v1/chat/completions", json=body, headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        typo = httpx.post(
            f"{base}/v1/chat/completions",
            json={**body, "model": "helo"},
            headers=headers,
            timeout=30,
        )
        assert typo.status_code == 404
    out = server.output or ""
    lines = out.splitlines()
    assert any("loaded drop-in hello (declarative)" in line for line in lines), out
    assert any("failed drop-in" in line and "broken" in line for line in lines), out
    ok = answer.headers["x-request-id"]
    assert [line for line in lines if ok in line and " hello 200 " in line], out
    bad = typo.headers["x-request-id"]
    assert [line for line in lines if bad in line and " helo 404 " in line], out
