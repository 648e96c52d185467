"""Suite-wide pytest fixtures: ``fake_upstream`` and ``gateway_factory`` (see their docstrings)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app.settings import Settings
from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway

MASTER_KEY = "lg-master-test-key-0123456789"
UPSTREAM_KEY = "sk-fake-upstream-key"


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    """A started fake OpenAI upstream on loopback; script it with ``.text()``, ``.cut()``, …"""
    fake = FakeUpstream().start()
    try:
        yield fake
    finally:
        fake.stop()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Test settings: temp SQLite log, empty drop-in roots, a master key, no file watching.

    ``upstream=<FakeUpstream>`` points the gateway at that fake (with a dummy key);
    without it the offline scripted upstream is used.
    """
    upstream = overrides.pop("upstream", None)
    agents = tmp_path / "agents"
    tools = tmp_path / "tools"
    agents.mkdir(exist_ok=True)
    tools.mkdir(exist_ok=True)
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/log.db",
        "agents_dirs": (str(agents),),
        "tools_dirs": (str(tools),),
        "master_key": MASTER_KEY,
        "watch_dropins": False,
        "port": 0,
        "audit_key_file": str(tmp_path / "audit.key"),
    }
    if upstream is not None:
        values["upstream_base_url"] = upstream.base_url
        values["upstream_api_key"] = UPSTREAM_KEY
    values.update(overrides)
    for key in ("agents_dirs", "tools_dirs", "upstream_models"):
        if isinstance(values.get(key), str | Path):
            values[key] = (str(values[key]),)
        elif key in values:
            values[key] = tuple(str(v) for v in values[key])
    return msgspec.convert(values, Settings)


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[..., LiveGateway]]:
    """``gateway_factory(**settings_overrides) -> LiveGateway`` (started); all stopped at teardown.

    Each call gets its own subfolder of ``tmp_path`` (its own log DB) unless ``database_url``
    is given. Pass ``upstream=fake_upstream`` to use the fake upstream instead of the scripted one.
    """
    started: list[LiveGateway] = []

    def factory(**overrides: Any) -> LiveGateway:
        home = tmp_path / f"gw{len(started)}"
        home.mkdir()
        gateway = LiveGateway(make_settings(home, **overrides))
        started.append(gateway)
        return gateway.start()

    try:
        yield factory
    finally:
        for gateway in reversed(started):
            gateway.stop()
