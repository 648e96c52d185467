"""Rescans the drop-in roots when their files change while serving (``settings.watch_dropins``)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import watchfiles

from app.adapters.discovery.scanner import Discovery

log = logging.getLogger(__name__)


def watched_roots(discovery: Discovery) -> list[str]:
    """The agent and tool roots that exist (watchfiles refuses missing paths)."""
    settings = discovery.settings
    roots = [*settings.agents_dirs, *settings.tools_dirs]
    return sorted({str(Path(r).resolve()) for r in roots if Path(r).is_dir()})


async def watch(discovery: Discovery, stop: asyncio.Event | None = None) -> None:
    """Scan (reason ``watch``) after each batch of changes, until cancelled or ``stop`` is set."""
    roots = watched_roots(discovery)
    if not roots:
        return
    # DefaultFilter skips __pycache__, *.pyc, editor swap files and VCS folders.
    async for _changes in watchfiles.awatch(*roots, stop_event=stop, debounce=300, step=50):
        try:
            await discovery.scan("watch")
        except Exception:  # a scan bug must not end watching; the next change retries
            log.exception("drop-in rescan failed")


def start_watcher(discovery: Discovery) -> asyncio.Task[None] | None:
    """Start watching in the background if the settings ask for it."""
    if not discovery.settings.watch_dropins:
        return None
    return asyncio.create_task(watch(discovery), name="ledgergate-dropin-watcher")
