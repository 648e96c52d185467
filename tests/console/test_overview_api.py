"""``/admin/series``, ``/admin/chain`` and ``/console`` on a real gateway that served requests."""

from __future__ import annotations

import itertools
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway

ROOT = Path(__file__).resolve().parents[2]
PIP_WHEEL = ("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q")


def _chat(gw: LiveGateway, text: str) -> httpx.Response:
    return httpx.post(
        gw.url("/v1/chat/completions"),
        headers=gw.headers(),
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
        timeout=30,
    )


def test_series_counts_requests_errors_tokens_and_latency_per_minute(
    gateway_factory: Any, fake_upstream: FakeUpstream
) -> None:
    gw: LiveGateway = gateway_factory(upstream=fake_upstream)
    before = datetime.now(UTC).replace(second=0, microsecond=0, tzinfo=None)
    fake_upstream.text("one two three")
    fake_upstream.text("four five")
    fake_upstream.error(500, "upstream broke", type="server_error")
    answers = [_chat(gw, "hi"), _chat(gw, "there"), _chat(gw, "again")]
    assert [a.status_code for a in answers] == [200, 200, 502]
    usage = [a.json()["usage"] for a in answers[:2]]
    head = gw.call(gw.services.store.head)

    body = httpx.get(
        gw.url("/admin/series"),
        headers=gw.headers(),
        params={"minutes": 5, "min_position": head},
        timeout=30,
    ).json()

    assert body["bucket_seconds"] == 60
    assert body["position"] >= head
    buckets = [p["bucket"] for p in body["points"]]
    assert len(buckets) == 5
    times = [datetime.strptime(b, "%Y-%m-%dT%H:%M") for b in buckets]
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(times))
    assert times[-1] >= before
    points = body["points"]
    assert sum(p["requests"] for p in points) == 3
    assert sum(p["errors"] for p in points) == 1
    assert sum(p["prompt_tokens"] for p in points) == sum(u["prompt_tokens"] for u in usage)
    assert sum(p["completion_tokens"] for p in points) == sum(u["completion_tokens"] for u in usage)
    busy = [p for p in points if p["requests"]]
    assert all(p["p50_ms"] is not None and p["p95_ms"] >= p["p50_ms"] for p in busy)
    assert all(p["requests_per_s"] == round(p["requests"] / 60, 4) for p in points)
    idle = [p for p in points if not p["requests"]]
    assert all(p["p50_ms"] is None and p["p95_ms"] is None for p in idle)


def test_chain_status_is_ok_then_names_a_tampered_position(gateway_factory: Any) -> None:
    gw: LiveGateway = gateway_factory()
    assert _chat(gw, "hello").status_code == 200
    head = gw.call(gw.services.store.head)

    ok = httpx.get(
        gw.url("/admin/chain"), headers=gw.headers(), params={"fresh": "true"}, timeout=30
    ).json()
    assert ok["state"] == "ok"
    assert ok["events"] >= head
    assert ok["bad_position"] is None
    assert ok["checking"] is False

    db = sqlite3.connect(gw.settings.database_url.split("///", 1)[1])
    db.execute("UPDATE events SET data = CAST('{\"x\":1}' AS BLOB) WHERE position = 3")
    db.commit()
    db.close()
    cached = httpx.get(gw.url("/admin/chain"), headers=gw.headers(), timeout=30).json()
    assert cached["state"] == "ok"  # a cached verdict: page views never re-read the whole log
    broken = httpx.get(
        gw.url("/admin/chain"), headers=gw.headers(), params={"fresh": "true"}, timeout=30
    ).json()
    assert broken["state"] == "broken"
    assert broken["bad_position"] == 3
    assert "hash" in broken["reason"]


def test_whoami_names_the_key_and_its_role(gateway_factory: Any) -> None:
    gw: LiveGateway = gateway_factory()
    master = httpx.get(gw.url("/admin/whoami"), headers=gw.headers(), timeout=10).json()
    assert master == {"key_id": "master", "name": "master", "admin": True, "auditor": False}
    created = httpx.post(
        gw.url("/admin/keys"), headers=gw.headers(), json={"name": "aud", "auditor": True}
    ).json()
    auditor = httpx.get(gw.url("/admin/whoami"), headers=gw.headers(created["key"])).json()
    assert auditor == {"key_id": created["id"], "name": "aud", "admin": False, "auditor": True}


@pytest.mark.parametrize("path", ["/admin/series", "/admin/chain", "/admin/whoami"])
def test_overview_routes_need_an_admin_key(gateway_factory: Any, path: str) -> None:
    gw: LiveGateway = gateway_factory()
    assert httpx.get(gw.url(path), timeout=10).status_code == 401
    plain = httpx.post(
        gw.url("/admin/keys"), headers=gw.headers(), json={"name": "plain"}, timeout=10
    ).json()["key"]
    assert httpx.get(gw.url(path), headers=gw.headers(plain), timeout=10).status_code == 403


def test_console_is_served_with_a_policy_that_allows_only_this_gateway(
    gateway_factory: Any,
) -> None:
    gw: LiveGateway = gateway_factory()
    page = httpx.get(gw.url("/console"), timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    assert "http" not in page.text.replace("http-equiv", "")  # no absolute URL: nothing off-host
    script = httpx.get(gw.url("/console/app.js"), timeout=10)
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    missing = httpx.get(gw.url("/console/nope.js"), timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "No console file 'nope.js'."


def test_the_wheel_carries_the_console_files(tmp_path: Path) -> None:
    """A non-editable install serves the console: its files are package data in the wheel."""
    source = tmp_path / "src"  # a clean copy: a stale build/ in the checkout could hide a miss
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".*", "var", "build", "dist", "*.egg-info", "__pycache__"),
    )
    subprocess.run(
        [sys.executable, *PIP_WHEEL, "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("ledgergate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {f"app/console/{p.name}" for p in (ROOT / "app" / "console").iterdir()}
    assert "app/console/index.html" in sources
    assert sources <= names
