"""/audit/* on a live gateway, auditor keys, and bundles checked by ``audit verify-bundle``."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.adapters.audit_key import Signer
from domain.checkpoint import checkpoint_text
from tests.audit import rfc9162
from tests.support.live_server import LiveGateway

MSG = [{"role": "user", "content": "hello there"}]


def get(gw: LiveGateway, path: str, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(gw.url(path), headers=headers, timeout=10)


def issue(gw: LiveGateway, **body: Any) -> dict[str, Any]:
    made = httpx.post(
        gw.url("/admin/keys"), headers={"Authorization": f"Bearer {gw.master_key}"}, json=body
    )
    assert made.status_code == 200, made.text
    result: dict[str, Any] = made.json()
    return result


def chat(gw: LiveGateway, key: str, stream: bool = False) -> str:
    client = openai.OpenAI(base_url=gw.url("/v1"), api_key=key, max_retries=0)
    if stream:
        with client.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True) as s:  # type: ignore[arg-type]
            return next(iter(s)).id
    return client.chat.completions.create(model="gpt-4o-mini", messages=MSG).id  # type: ignore[arg-type]


def verify_bundle_cli(path: Path, vkey: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "app", "audit", "verify-bundle", str(path), "--key", vkey],
        env=env,
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def open_note(note: str, vkey: str) -> tuple[str, int, bytes]:
    """The checkpoint's origin, size and root, from the note text and the key alone."""
    name, key_id, key_b64 = vkey.split("+", 2)
    raw = base64.b64decode(key_b64)
    text, _, signatures = note.rpartition("\n\n")
    (line,) = signatures.splitlines()
    assert line.startswith("\u2014 " + name + " ")
    sig = base64.b64decode(line.split(" ")[2])
    assert sig[:4].hex() == key_id
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], (text + "\n").encode())
    origin, size, root = text.split("\n")
    return origin, int(size), base64.b64decode(root)


def test_auditor_reads_proofs_and_bundles_and_nothing_else(
    gateway_factory: Callable[..., LiveGateway], tmp_path: Path
) -> None:
    gw = gateway_factory(audit_origin="audit.test/log")
    auditor = issue(gw, name="auditor", auditor=True)
    assert auditor["auditor"] is True and auditor["admin"] is False
    user = issue(gw, name="user", models=["*"])
    rid = chat(gw, gw.master_key)
    chat(gw, user["key"], stream=True)

    vkey = get(gw, "/audit/key").text.strip()  # anyone
    assert vkey.startswith("audit.test/log+")

    note = get(gw, "/audit/checkpoint", auditor["key"])
    assert note.status_code == 200 and note.headers["content-type"].startswith("text/plain")
    origin, size, root = open_note(note.text, vkey)
    assert origin == "audit.test/log" and size >= 10

    # Proofs, by the contract's shapes, verified with the RFC 9162 reference.
    inc = get(gw, f"/audit/proof/inclusion?position=3&tree_size={size}", auditor["key"]).json()
    assert list(inc) == ["position", "leaf_index", "tree_size", "leaf_hash", "root_hash", "hashes"]
    assert inc["root_hash"] == root.hex() and inc["leaf_index"] == 2
    hashes = [bytes.fromhex(h) for h in inc["hashes"]]
    assert rfc9162.verify_inclusion(2, size, bytes.fromhex(inc["leaf_hash"]), hashes, root)
    con = get(gw, f"/audit/proof/consistency?first=4&second={size}", auditor["key"]).json()
    assert list(con) == ["first", "second", "first_root", "second_root", "hashes"]
    first_root = bytes.fromhex(con["first_root"])
    assert rfc9162.verify_consistency(
        4, size, first_root, root, [bytes.fromhex(h) for h in con["hashes"]]
    )

    bundle = get(gw, f"/audit/requests/{rid}/bundle", auditor["key"])
    assert bundle.status_code == 200
    body = bundle.json()
    assert list(body) == ["checkpoint", "events", "proofs"]
    assert {e["stream"] for e in body["events"]} == {f"request:{rid}"}
    path = tmp_path / "bundle.json"
    path.write_bytes(bundle.content)
    ok = verify_bundle_cli(path, vkey)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith(f"ok: {len(body['events'])} events of request:{rid}")

    # An auditor reads the log, requests and replays...
    for route in ("/admin/events?limit=5", "/admin/requests", f"/admin/requests/{rid}"):
        assert get(gw, route, auditor["key"]).status_code == 200, route
    # ...and nothing else: no chat, no key management, no metrics; each refusal is logged.
    refused = openai.OpenAI(base_url=gw.url("/v1"), api_key=auditor["key"], max_retries=0)
    try:
        refused.chat.completions.create(model="m", messages=MSG)  # type: ignore[arg-type]
        raise AssertionError("an auditor key chatted")
    except openai.PermissionDeniedError:
        pass
    assert get(gw, "/admin/keys", auditor["key"]).status_code == 403
    assert get(gw, "/admin/metrics", auditor["key"]).status_code == 403
    assert get(gw, "/audit/checkpoint", user["key"]).status_code == 403
    assert get(gw, "/audit/checkpoint").status_code == 401
    bad = get(gw, "/audit/proof/inclusion?position=9&tree_size=3", auditor["key"])
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "position"
    assert get(gw, "/audit/requests/chatcmpl-nope/bundle", auditor["key"]).status_code == 404
    acl = [json.loads(e.data) for e in gw.call(gw.services.store.read_stream, "acl")]
    assert [(a["subject"], a["action"], a["resource"], a["rule"]) for a in acl] == [
        (auditor["id"], "admin", "GET /admin/keys", "key.admin:false"),
        (auditor["id"], "admin", "GET /admin/metrics", "key.admin:false"),
        (user["id"], "audit", "GET /audit/checkpoint", "key.admin:false,key.auditor:false"),
    ]
    # The signing key is a 0600 file and never enters the log.
    key_file = Path(gw.settings.audit_key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600
    secret = key_file.read_text().strip().split("+", 4)[4]  # the base64 may itself hold "+"
    everything = gw.call(gw.services.store.read_all, 0, 100_000)
    assert not any(secret.encode() in e.data + e.meta for e in everything)
    denied = gw.call(gw.services.store.read_all, 0, 10_000, ["acl.decided"])
    assert any(
        json.loads(e.data)["subject"] == auditor["id"] and json.loads(e.data)["decision"] == "deny"
        for e in denied
        if e.stream.startswith("request:")
    )


def test_verify_bundle_catches_tampering_reordering_truncation_and_another_key(
    gateway_factory: Callable[..., LiveGateway], tmp_path: Path
) -> None:
    gw = gateway_factory()
    rid = chat(gw, gw.master_key)
    vkey = get(gw, "/audit/key").text.strip()
    good = get(gw, f"/audit/requests/{rid}/bundle", gw.master_key).json()

    def check(bundle: dict[str, Any], name: str) -> str:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bundle))
        result = verify_bundle_cli(path, vkey)
        assert result.returncode == 1, (name, result.stdout)
        return result.stdout

    assert verify_bundle_cli(_write(tmp_path / "good.json", good), vkey).returncode == 0

    edited = json.loads(json.dumps(good))
    edited["events"][0]["data"]["model"] = "gpt-evil"
    assert "hash does not match" in check(edited, "edited")

    rehashed = json.loads(json.dumps(edited))  # the forger also recomputes the event's hash
    from app.adapters.audit_verify import event_hash

    rehashed["events"][0]["hash"] = event_hash(rehashed["events"][0])
    assert "proof" in check(rehashed, "rehashed")

    reordered = json.loads(json.dumps(good))
    reordered["events"][1], reordered["events"][2] = good["events"][2], good["events"][1]
    reordered["proofs"][1], reordered["proofs"][2] = good["proofs"][2], good["proofs"][1]
    assert "version" in check(reordered, "reordered")

    truncated = json.loads(json.dumps(good))
    del truncated["events"][-1], truncated["proofs"][-1]
    assert "terminal event" in check(truncated, "truncated")

    # Re-signed with another key under the same name: the verifier key does not accept it.
    other = Signer(good["checkpoint"].split("\n")[0], Ed25519PrivateKey.generate())
    origin, size, root = open_note(good["checkpoint"], vkey)
    forged = json.loads(json.dumps(good))
    forged["checkpoint"] = other.sign(checkpoint_text(origin, size, root))
    assert "no signature by" in check(forged, "forged")


def _write(path: Path, bundle: dict[str, Any]) -> Path:
    path.write_text(json.dumps(bundle))
    return path
