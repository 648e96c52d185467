"""Keys end to end: the real CLI against the live gateway's SQLite log, and the admin routes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from app.services.keys import hash_secret
from tests.support.live_server import LiveGateway


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "app", "keys", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def get(gw: LiveGateway, path: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(gw.url(path), headers=headers, timeout=10)


def db_bytes(database_url: str) -> bytes:
    path = Path(database_url.split("///", 1)[1])
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_key_lifecycle_through_the_cli(
    gateway_factory: Callable[..., LiveGateway], tmp_path: Path
) -> None:
    gw = gateway_factory()
    url = gw.settings.database_url

    made = cli("create", "--name", "ops", "--admin", "--database-url", url, "--json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    ops = json.loads(made.stdout)
    plain = cli(
        "create", "--name", "ci", "--tools", "add, search_*", "--database-url", url, cwd=tmp_path
    )
    assert plain.returncode == 0, plain.stderr
    lines = dict(line.split(": ", 1) for line in plain.stdout.splitlines() if ": " in line)
    ci_id, ci_key = lines["id"].strip(), lines["key"].strip()
    assert ci_key.startswith("lg-") and "not shown again" in plain.stdout

    # use: the running server accepts keys the CLI just wrote (an unknown key makes it catch up)
    listed = get(gw, "/admin/keys", ops["key"])
    assert listed.status_code == 200
    by_id = {k["id"]: k for k in listed.json()["data"]}
    assert by_id[ci_id]["tools"] == ["add", "search_*"]
    assert "key" not in by_id[ci_id] and "key_hash" not in by_id[ci_id]
    denied = get(gw, "/admin/keys", ci_key)  # a valid key without admin rights
    assert denied.status_code == 403
    assert denied.json()["error"]["type"] == "permission_error"

    revoked = cli("revoke", ci_id, "--database-url", url, cwd=tmp_path)
    assert revoked.returncode == 0 and revoked.stdout.strip() == f"revoked {ci_id}"
    again = cli("revoke", "key_nope", "--database-url", url, cwd=tmp_path)
    assert again.returncode == 1

    gw.call(gw.services.keys.refresh)  # what the server does on its own within ~1 s
    refused = get(gw, "/admin/keys", ci_key)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"

    listing = cli("list", "--database-url", url, "--json", cwd=tmp_path)
    state = {k["id"]: k["revoked"] for k in json.loads(listing.stdout)}
    assert state == {ops["id"]: False, ci_id: True}

    stored = db_bytes(url)
    for secret in (ops["key"], ci_key):
        assert secret.encode() not in stored
        assert hash_secret(secret).encode() in stored


def test_admin_key_routes_and_error_shapes(gateway_factory: Callable[..., LiveGateway]) -> None:
    gw = gateway_factory()
    master = gw.master_key
    with httpx.Client(base_url=gw.base_url, timeout=10) as http:
        auth = {"Authorization": f"Bearer {master}"}
        made = http.post(
            "/admin/keys", headers=auth, json={"name": "app", "agents": ["*"], "tools": []}
        )
        assert made.status_code == 200
        body: dict[str, Any] = made.json()
        assert body["key"].startswith("lg-") and body["id"].startswith("key_")
        assert (body["agents"], body["tools"], body["admin"]) == (["*"], [], False)

        listed = http.get("/admin/keys", headers=auth).json()
        assert [k["id"] for k in listed["data"]] == [body["id"]]
        assert "key" not in listed["data"][0]

        user = {"Authorization": f"Bearer {body['key']}"}
        assert http.get("/admin/keys", headers=user).status_code == 403
        gone = http.delete(f"/admin/keys/{body['id']}", headers=auth)
        assert gone.status_code == 200 and gone.json()["revoked"] is True
        refused = http.get("/admin/keys", headers=user)
        assert refused.status_code == 401

        missing = http.get("/admin/keys")
        assert missing.status_code == 401
        assert missing.json()["error"]["message"].startswith("You didn't provide an API key")
        bad = http.post("/admin/keys", headers=auth, json={"name": "", "extra": 1})
        assert bad.status_code == 400
        assert bad.json()["error"]["type"] == "invalid_request_error"
        not_json = http.post("/admin/keys", headers=auth, content=b"{nope")
        assert not_json.status_code == 400
        stranger = http.post("/admin/keys", json={"name": "x"})  # auth before body
        assert stranger.status_code == 401
        unknown = http.delete("/admin/keys/key_nope", headers=auth)
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "key_not_found"
        no_route = http.get("/no/such/route")
        assert no_route.status_code == 404
        assert set(no_route.json()["error"]) == {"message", "type", "param", "code"}
        wrong_method = http.put("/admin/keys", headers=auth)
        assert wrong_method.status_code == 405
        assert "error" in wrong_method.json()


def test_a_restarted_gateway_has_the_same_keys(
    gateway_factory: Callable[..., LiveGateway],
) -> None:
    first = gateway_factory()
    auth = {"Authorization": f"Bearer {first.master_key}"}
    secrets = []
    for name in ("a", "b"):
        made = httpx.post(first.url("/admin/keys"), headers=auth, json={"name": name}, timeout=10)
        secrets.append(made.json())
    httpx.delete(first.url(f"/admin/keys/{secrets[0]['id']}"), headers=auth, timeout=10)
    before = get(first, "/admin/keys", first.master_key).json()
    first.stop()
    second = gateway_factory(database_url=first.settings.database_url)
    assert get(second, "/admin/keys", second.master_key).json() == before
    assert get(second, "/admin/keys", secrets[0]["key"]).status_code == 401
    assert get(second, "/admin/keys", secrets[1]["key"]).status_code == 403


def test_a_denied_admin_access_is_in_the_log_before_the_403(
    gateway_factory: Callable[..., LiveGateway],
) -> None:
    gw = gateway_factory()
    made = httpx.post(
        gw.url("/admin/keys"),
        headers={"Authorization": f"Bearer {gw.master_key}"},
        json={"name": "app", "agents": ["*"]},
        timeout=10,
    ).json()
    assert get(gw, "/admin/metrics", gw.master_key).status_code == 200  # allowed: not logged
    assert get(gw, "/admin/metrics", made["key"]).status_code == 403
    events = gw.call(gw.services.store.read_stream, "acl")
    assert [(e.type, json.loads(e.data)) for e in events] == [
        (
            "acl.decided",
            {
                "subject": made["id"],
                "action": "admin",
                "resource": "GET /admin/metrics",
                "decision": "deny",
                "rule": "key.admin:false",
            },
        )
    ]
