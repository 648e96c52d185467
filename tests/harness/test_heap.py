"""A started gateway freezes its start-up heap once per process (``app/heap.py``), so full
garbage collections skip it; a second gateway in the same process leaves the count alone.

Runs a fresh interpreter: the test process may have started gateways before.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, gc, json
from litestar.testing import AsyncTestClient
from app.main import create_app
from app.settings import Settings

def settings(n):
    return Settings(
        database_url="sqlite+aiosqlite:///{db}" + str(n),
        agents_dirs=(), tools_dirs=(), upstream_api_key="sk-unused",
        upstream_base_url="http://127.0.0.1:9/v1", master_key="lg-master-heap",
        watch_dropins=False, run_projections=False,
    )

async def main():
    counts = [gc.get_freeze_count()]
    for n in (1, 2):
        async with AsyncTestClient(create_app(settings(n))) as client:
            assert (await client.get("/readyz")).status_code == 200
            counts.append(gc.get_freeze_count())
    print(json.dumps(counts))

asyncio.run(main())
"""


def test_startup_heap_is_frozen_once(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(db=tmp_path / "log.db")],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    before, first, second = json.loads(out.stdout.strip().splitlines()[-1])
    assert before == 0
    assert first > 10_000  # the imports and start-up objects of a gateway
    assert second <= first  # not frozen again (frozen objects that die leave the count)
