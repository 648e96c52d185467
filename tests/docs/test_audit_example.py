"""docs/events.md's bundle verifier, run as a script on bundles a live gateway served.

It must accept them and reject edited, re-hashed, reordered, truncated and re-signed copies; the
example checkpoint on that page must verify with the verifier key shown beside it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.adapters.audit_key import Signer, verify_note
from domain.checkpoint import checkpoint_text
from tests.support.live_server import LiveGateway

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _section() -> str:
    text = DOC.read_text("utf-8")
    return text[text.index("## Verifiable audit") :]


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(_section()) if kind == lang]


def _run(bundle: dict[str, Any], vkey: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (script,) = [b for b in _blocks("python") if "rfc8785" in b]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-c", script, str(path), vkey],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_example_checkpoint_verifies_with_the_key_shown() -> None:
    note, vkey = _blocks("txt")
    checkpoint = verify_note(note, vkey.strip())
    assert (checkpoint.origin, checkpoint.tree_size) == ("ledgergate.local/log", 5)


def test_the_documented_verifier_checks_real_bundles(
    gateway_factory: Callable[..., LiveGateway], tmp_path: Path
) -> None:
    gw = gateway_factory()
    client = openai.OpenAI(base_url=gw.url("/v1"), api_key=gw.master_key, max_retries=0)
    msg = [{"role": "user", "content": "audit me"}]
    rid = client.chat.completions.create(model="gpt-4o-mini", messages=msg).id  # type: ignore[arg-type]
    with client.chat.completions.create(model="gpt-4o-mini", messages=msg, stream=True) as stream:  # type: ignore[arg-type]
        ids = [chunk.id for chunk in stream]  # read to [DONE]: the request is in the log
    streamed = ids[0]
    vkey = httpx.get(gw.url("/audit/key"), timeout=10).text.strip()
    auth = {"Authorization": f"Bearer {gw.master_key}"}
    for request_id in (rid, streamed):
        bundle = httpx.get(gw.url(f"/audit/requests/{request_id}/bundle"), headers=auth).json()
        ok = _run(bundle, vkey, tmp_path)
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.startswith(f"ok: {len(bundle['events'])} events of request:{request_id}")

    def copy() -> dict[str, Any]:
        result: dict[str, Any] = json.loads(json.dumps(bundle))
        return result

    edited = copy()
    edited["events"][1]["data"]["seq"] = 99
    assert "the hash does not match" in _run(edited, vkey, tmp_path).stderr

    rehashed = copy()
    event = rehashed["events"][1]
    event["data"]["seq"] = 99
    body = {k: v for k, v in event.items() if k != "hash"}
    event["hash"] = hashlib.sha256(rfc8785.dumps(body)).hexdigest()
    assert "not in the signed log" in _run(rehashed, vkey, tmp_path).stderr

    reordered = copy()
    reordered["events"][1:3] = reordered["events"][2:0:-1]
    reordered["proofs"][1:3] = reordered["proofs"][2:0:-1]
    assert "incomplete or reordered" in _run(reordered, vkey, tmp_path).stderr

    truncated = copy()
    del truncated["events"][-1], truncated["proofs"][-1]
    assert "terminal event is missing" in _run(truncated, vkey, tmp_path).stderr

    origin, size, root = bundle["checkpoint"].split("\n")[:3]
    other = Signer(origin, Ed25519PrivateKey.generate())
    forged = copy()
    forged["checkpoint"] = other.sign(checkpoint_text(origin, int(size), base64.b64decode(root)))
    assert "not signed by this key" in _run(forged, vkey, tmp_path).stderr
