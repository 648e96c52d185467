"""Settings from environment variables (``LEDGERGATE_*``), optionally a ``ledgergate.toml``.

Precedence: environment, then the TOML file (same keys, lower case, no prefix), then defaults.
Read once by the composition root or the CLI, never at import time.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

OPENAI_BASE_URL = "https://api.openai.com/v1"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "sqlite+aiosqlite:///./var/ledgergate.db"
    agents_dirs: tuple[str, ...] = ("src/agents",)
    tools_dirs: tuple[str, ...] = ("src/tools",)
    upstream_base_url: str = OPENAI_BASE_URL
    upstream_api_key: str | None = None
    upstream_models: tuple[str, ...] = ("*",)
    master_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    audit_key_file: str = "var/audit.key"
    audit_origin: str = "ledgergate.local/log"
    audit_checkpoint_s: float = 60.0
    cors_origins: tuple[str, ...] = ()
    # Beyond the contract's table; documented in docs/operations.md.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    max_body_bytes: int = 1_048_576
    max_messages: int = 2048
    upstream_timeout_s: float = 60.0
    upstream_idle_timeout_s: float = 60.0
    upstream_total_timeout_s: float = 600.0
    # "httpx": 0.1's name of "stock", still accepted (docs/operations.md).
    upstream_transport: Literal["stock", "fast", "httpx"] = "stock"
    upstream_api: Literal["auto", "responses", "chat_completions"] = "auto"
    tool_timeout_s: float = 30.0
    tool_result_max_bytes: int = 65_536
    tool_max_concurrency: int = 4
    max_tool_hops: int = 8
    max_turns: int = 10
    watch_dropins: bool = True
    dropin_import_timeout_s: float = 10.0
    dropin_memory_limit_mb: int = 2048
    # SDK drop-ins run in worker processes (ADR 0010); "inprocess" only for comparisons.
    dropin_runtime: Literal["worker", "inprocess"] = "worker"
    dropin_ping_interval_s: float = 2.0
    dropin_hang_timeout_s: float = 10.0
    run_projections: bool = True
    node_lease_s: float = 15.0

    @property
    def scripted_upstream(self) -> bool:
        """No upstream key anywhere: use the offline scripted upstream."""
        return self.upstream_api_key is None


_LIST_KEYS = {"agents_dirs", "tools_dirs", "upstream_models", "cors_origins"}
_PREFIX = "LEDGERGATE_"


def _split(key: str, value: str) -> tuple[str, ...]:
    sep = "," if key in ("upstream_models", "cors_origins") else ":"
    return tuple(part.strip() for part in value.split(sep) if part.strip())


def load_settings(
    env: Mapping[str, str] | None = None, toml_path: str | Path | None = None
) -> Settings:
    """Build settings from ``env`` (default ``os.environ``) and an optional TOML file.

    The TOML file defaults to ``$LEDGERGATE_CONFIG`` or ``./ledgergate.toml`` if present.
    Raises ``msgspec.ValidationError`` with the offending key for a bad value.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = Path(toml_path or env.get("LEDGERGATE_CONFIG", "ledgergate.toml"))
    if path.is_file():
        with path.open("rb") as fh:
            values.update(tomllib.load(fh))
    if "OPENAI_BASE_URL" in env:
        values["upstream_base_url"] = env["OPENAI_BASE_URL"]
    if "OPENAI_API_KEY" in env:
        values["upstream_api_key"] = env["OPENAI_API_KEY"]
    fields = set(Settings.__struct_fields__)
    for name, raw in env.items():
        if not name.startswith(_PREFIX):
            continue
        key = name[len(_PREFIX) :].lower()
        if key in fields:
            values[key] = _split(key, raw) if key in _LIST_KEYS else raw
    for key in _LIST_KEYS & values.keys():
        if isinstance(values[key], str):
            values[key] = _split(key, values[key])
    return msgspec.convert(values, Settings, strict=False)
