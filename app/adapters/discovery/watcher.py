"""Rescans the drop-in roots when their files change while serving (``settings.watch_dropins``)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import watchfiles

from app.adapters.discovery.scanner import Discovery
from app.ports.discovery import ScanReport

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
            report = await discovery.scan("watch")
        except Exception:  # a scan bug must not end watching; the next change retries
            log.exception("drop-in rescan failed")
            continue
        log_report(report)


def log_failed(report: ScanReport, logger: logging.Logger = log) -> None:
    """One warning per failed drop-in, with its remediation."""
    for failed in report.failed:
        logger.warning(
            "failed drop-in %s (%s): %s -- %s",
            failed.path,
            failed.error_type,
            failed.message,
            failed.remediation,
        )


def log_report(report: ScanReport) -> None:
    """One line per drop-in a rescan loaded, failed or removed (the serving terminal)."""
    for loaded in report.loaded:
        verb = "reloaded" if loaded.reloaded else "loaded"
        log.info("%s drop-in %s (%s) from %s", verb, loaded.name, loaded.kind, loaded.path)
    log_failed(report)
    for gone in report.unloaded:
        log.info("unloaded drop-in %s (%s)", gone.name, gone.reason)


def start_watcher(discovery: Discovery) -> asyncio.Task[None] | None:
    """Start watching in the background if the settings ask for it."""
    if not discovery.settings.watch_dropins:
        return None
    return asyncio.create_task(watch(discovery), name="ledgergate-dropin-watcher")
