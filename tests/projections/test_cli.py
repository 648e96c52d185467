"""``ledgergate projections status|rebuild`` on a SQLite log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from app.adapters.eventstore.migrate import upgrade_head
from app.adapters.eventstore.sqlite import SqliteEventStore
from app.cli import main
from projections.db import create_read_model_engine
from projections.runner import ProjectionRunner
from tests.projections.factory import append_request


async def _fill(url: str, requests: int, project: bool) -> int:
    store = await SqliteEventStore.open(url)
    try:
        head = 0
        for n in range(requests):
            head = await append_request(store, f"r{n}")
        if project:
            engine = create_read_model_engine(url)
            runner = ProjectionRunner(store, engine)
            await runner.catch_up()
            await runner.stop()
            await engine.dispose()
        return head
    finally:
        await store.close()


def test_status_shows_lag_and_rebuild_catches_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    upgrade_head(url)
    first = asyncio.run(_fill(url, 2, project=True))
    head = asyncio.run(_fill(url, 1, project=False))  # written while no runner was running
    assert main(["projections", "status", "--json", "--database-url", url]) == 0
    rows = [msgspec.json.decode(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["name"]: (r["position"], r["lag"]) for r in rows} == dict.fromkeys(
        ("requests", "tools", "discovery", "acl", "log"), (first, head - first)
    )
    assert main(["projections", "rebuild", "requests", "--database-url", url]) == 0
    assert f"rebuilt requests: generation 6 at position {head}" in capsys.readouterr().out
    assert main(["projections", "status", "--database-url", url]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["projection", "generation", "position", "head", "lag", "updated"]
    requests_row = next(line.split() for line in table if line.startswith("requests"))
    assert requests_row[1:5] == ["6", str(head), str(head), "0"]
    with pytest.raises(SystemExit):
        main(["projections", "rebuild", "nope", "--database-url", url])
