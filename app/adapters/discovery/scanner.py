"""One discovery scan: tool modules, then every drop-in; registry updates and discovery events.

A scan records ``discovery.scan_started``, one ``discovery.agent_loaded`` or
``discovery.dropin_failed`` per drop-in (and per tool module), ``discovery.agent_unloaded`` for
a removed drop-in or a loaded one whose reload failed, then ``discovery.scan_completed`` with
counts. Unchanged drop-ins (same digest) are not imported again. Scans never overlap.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.adapters.declarative import load_declarative
from app.adapters.discovery.files import DropinSource, find_dropins, module_files
from app.adapters.workers.probe import ImportProbe
from app.adapters.workers.protocol import ProbeRequest
from app.adapters.workers.supervisor import DropinWorker, Timing, worker_env
from app.ids import uuid7
from app.ports.chat_backend import ChatBackend
from app.ports.discovery import ScanReport
from app.services.agents import AgentEntry, AgentRegistry, DropinError
from app.settings import Settings
from domain.events import (
    AgentLoaded,
    AgentUnloaded,
    DropinFailed,
    Event,
    ScanCompleted,
    ScanStarted,
)
from domain.ports import EventStore, NewEvent

if TYPE_CHECKING:  # the Agents SDK is imported only once a drop-in or tool module needs it
    from app.adapters.discovery.loader import Entry, LoadedModule

STREAM = "discovery"


@dataclass
class _Served:
    entry: AgentEntry
    entrypoint: str
    module: LoadedModule | None  # imported in this process: None for declarative or workers
    worker: DropinWorker | None = None  # the drop-in's worker process (the default runtime)


def _micros(start: float) -> int:
    return int((time.perf_counter() - start) * 1_000_000)


class Discovery:
    """Keeps ``registry`` equal to what the drop-in roots hold, and says so in the log."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: EventStore,
        registry: AgentRegistry,
        upstream: Any,
        tools: Any,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.upstream = upstream
        self.tools = tools
        self._served: dict[str, _Served] = {}
        self._tool_modules: set[str] = set()
        self._lock = asyncio.Lock()
        self._last_scan = ""
        self.probe = ImportProbe(
            timeout_s=settings.dropin_import_timeout_s,
            memory_limit_mb=settings.dropin_memory_limit_mb,
        )

    async def scan(self, reason: str) -> ScanReport:
        """Scan every root once (``reason``: startup, admin, cli, watch)."""
        async with self._lock:
            return await self._scan(reason)

    async def _record(self, *events: Event) -> None:
        await self.store.append(STREAM, [NewEvent.of(e, uuid7()) for e in events])

    async def _scan(self, reason: str) -> ScanReport:
        start = time.perf_counter()
        report = ScanReport(uuid7())
        self._last_scan = report.scan_id
        roots = list(self.settings.agents_dirs)
        await self._record(ScanStarted(scan_id=report.scan_id, roots=roots, reason=reason))
        await self._scan_tool_modules(report)
        sources, duplicates = find_dropins(roots)
        digests = [await asyncio.to_thread(s.digest) for s in sources]
        verdicts = await self._probe(sources, digests)
        for source, digest, verdict in zip(sources, digests, verdicts, strict=True):
            if verdict is not None and not source.path.exists():
                continue  # removed while it was probed: unloaded below as removed, not failed
            await self._one(source, report, digest, verdict)
        for dup in duplicates:
            first = next(s for s in sources if s.name == dup.name)
            await self._fail(
                report,
                dup,
                DropinError(
                    "duplicate_name",
                    f"another drop-in named '{dup.name}' is served from {first.path}",
                    "Rename one of the two folders (the model id is the folder name).",
                ),
            )
        present = {s.name for s in sources if s.path.exists()}
        for name in [n for n in self._served if n not in present]:
            await self._unload(report, name, "removed")
        self.registry.failed = {f.name: f for f in report.failed if f.kind == "agent"}
        await self._record(
            ScanCompleted(
                scan_id=report.scan_id,
                loaded=len(report.loaded),
                failed=len(report.failed),
                unloaded=len(report.unloaded),
                unchanged=report.unchanged,
                duration_us=_micros(start),
            )
        )
        return report

    async def _scan_tool_modules(self, report: ScanReport) -> None:
        dirs = list(self.settings.tools_dirs)
        loaded: list[Any] = []
        failed: list[Any] = []
        if files := module_files(dirs):  # tool schemas come from the Agents SDK: import it now
            from app.adapters.toolmodules import load_tool_modules

            refused = await self._probe_tool_modules(files)
            loaded, failed = await asyncio.to_thread(load_tool_modules, dirs, refused)
        self.tools.replace(loaded)
        self.tools.failed_modules = failed
        by_path: dict[str, list[str]] = defaultdict(list)
        for spec, _fn in loaded:
            by_path[spec.source].append(spec.name)
        for path, names in sorted(by_path.items()):
            event = AgentLoaded(
                scan_id=report.scan_id,
                name=Path(path).stem if Path(path).stem != "__init__" else Path(path).parent.name,
                path=path,
                kind="tool_module",
                entrypoint="@gateway_tool",
                digest="",
                tools=sorted(names),
            )
            report.loaded.append(event)
            await self._record(event)
        for failure in failed:
            event_f = DropinFailed(
                scan_id=report.scan_id,
                name=failure.name,
                path=failure.path,
                kind="tool_module",
                error_type=failure.error_type,
                message=failure.message,
                remediation=failure.remediation,
                digest=failure.digest,
            )
            report.failed.append(event_f)
            await self._record(event_f)
        self._tool_modules = set(by_path) | {f.path for f in failed}

    async def _probe_tool_modules(self, files: list[tuple[str, Path]]) -> dict[str, Any]:
        """Import every tool module in a child process first; path -> failure of those refused."""
        from app.adapters.toolmodules import FailedToolModule, module_digest

        async def one(name: str, path: Path) -> tuple[str, Any]:
            digest = await asyncio.to_thread(module_digest, path)
            error = await self.probe.check_tool_module(name, path, digest)
            if error is None:
                return str(path), None
            failure = FailedToolModule(
                name=name,
                path=str(path),
                error_type=error.error_type,
                message=error.message,
                remediation=error.remediation,
            )
            return str(path), failure

        verdicts = await asyncio.gather(*(one(name, path) for name, path in files))
        return {path: failure for path, failure in verdicts if failure is not None}

    def _unchanged(self, source: DropinSource, digest: str) -> _Served | None:
        served = self._served.get(source.name)
        if served and served.entry.digest == digest and served.entry.path == str(source.path):
            return served
        return None

    async def _probe(
        self, sources: list[DropinSource], digests: list[str]
    ) -> list[DropinError | None]:
        """Import every new or changed Python drop-in in a child process first, all at once."""
        specs = [(t.name, t.description, t.parameters, t.strict) for t in self.tools.specs()]

        async def one(source: DropinSource, digest: str) -> DropinError | None:
            if source.kind != "python" or self._unchanged(source, digest):
                return None
            return await self.probe.check(source, specs)

        pairs = zip(sources, digests, strict=True)
        return list(await asyncio.gather(*(one(s, d) for s, d in pairs)))

    async def _one(
        self, source: DropinSource, report: ScanReport, digest: str, verdict: DropinError | None
    ) -> None:
        served = self._served.get(source.name)
        if (unchanged := self._unchanged(source, digest)) is not None:
            failure = unchanged.worker.failure if unchanged.worker is not None else None
            if failure is not None:  # its worker kept dying: failed until its files change
                await self._fail(report, source, failure, digest)
                return
            report.unchanged += 1
            await self._loaded(report, unchanged, reloaded=False)
            return
        try:
            if verdict is not None:
                raise verdict
            new = await self._load(source, digest)
        except DropinError as error:
            if not source.path.exists():  # deleted while this scan ran: a removal, not a failure
                if served is not None:
                    await self._unload(report, source.name, "removed")
                return
            if served is not None:
                await self._unload(report, source.name, "failed_reload")
            await self._fail(report, source, error, digest)
            return
        self.registry.put(new.entry)  # swapped whole: running requests keep the old entry
        self._served[source.name] = new
        if served is not None:
            await _release(served)
        await self._loaded(report, new, reloaded=served is not None)

    async def _load(self, source: DropinSource, digest: str) -> _Served:
        if source.kind == "toml":
            entry = load_declarative(
                source.path,
                source.name,
                upstream=self.upstream,
                tools=self.tools,
                settings=self.settings,
            )
            return _Served(entry, "agent.toml", None)
        if self.settings.dropin_runtime == "worker":
            return await self._start_worker(source, digest)
        # A Python drop-in needs the Agents SDK: imported here, the first time one is found.
        from app.adapters.discovery.loader import load_python
        from app.adapters.sdk.runner_hook import install_runner_hook

        install_runner_hook()
        module, found = await asyncio.to_thread(load_python, source)
        entry = AgentEntry(
            name=source.name,
            kind=found.kind,
            path=str(source.path),
            backend=self._backend(source.name, found),
            tools=found.tools,
            digest=digest,
            description=(getattr(module.module, "__doc__", None) or "").strip().split("\n")[0],
        )
        return _Served(entry, found.entrypoint, module)

    def _backend(self, name: str, found: Entry) -> ChatBackend:
        from app.adapters.sdk.backend import SdkBackend, WorkflowBackend
        from app.adapters.sdk.port_transport import LocalCaller

        max_turns = self.settings.max_turns
        caller = LocalCaller(self.upstream)
        if found.kind == "agent_builder":
            return WorkflowBackend(name, found.run_workflow, found.input_type, caller, max_turns)
        assert found.agent is not None
        return SdkBackend(name, found.agent, caller, max_turns)

    async def _start_worker(self, source: DropinSource, digest: str) -> _Served:
        """Start the drop-in's worker process; the gateway never imports it. ``DropinError``."""
        from app.adapters.workers.backend import WorkerBackend

        settings = self.settings
        specs = [(t.name, t.description, t.parameters, t.strict) for t in self.tools.specs()]
        request = ProbeRequest(
            kind="worker",
            name=source.name,
            path=str(source.path),
            folder=str(source.folder) if source.folder is not None else None,
            cwd=os.getcwd(),
            env=worker_env(settings),
            memory_limit_mb=settings.dropin_memory_limit_mb,
            gateway_tools=specs,
            max_turns=settings.max_turns,
            upstream_label=self.upstream.label,
        )
        timing = Timing(
            import_timeout_s=settings.dropin_import_timeout_s,
            ping_interval_s=settings.dropin_ping_interval_s,
            hang_timeout_s=settings.dropin_hang_timeout_s,
        )
        worker = DropinWorker(request, timing)
        worker.on_failed = lambda error: self._worker_failed(source, worker, error, digest)
        hello = await worker.start()
        entry = AgentEntry(
            name=source.name,
            kind=hello.kind,
            path=str(source.path),
            backend=WorkerBackend(source.name, worker, self.upstream),
            tools=tuple(hello.tools),
            digest=digest,
            description=hello.description,
        )
        return _Served(entry, hello.entrypoint, None, worker)

    async def _worker_failed(
        self, source: DropinSource, worker: DropinWorker, error: DropinError, digest: str
    ) -> None:
        """A worker that keeps dying: its drop-in is failed (503 with the remediation)."""
        async with self._lock:
            served = self._served.get(source.name)
            if served is None or served.worker is not worker:
                return  # reloaded or removed meanwhile
            if self.registry.get(source.name) is served.entry:
                self.registry.remove(source.name)
            event = _failed_event(self._last_scan, source, error, digest)
            self.registry.failed = {**self.registry.failed, source.name: event}
            await self._record(event)

    async def close(self) -> None:
        """Stop every drop-in worker (the gateway is shutting down)."""
        for served in self._served.values():
            if served.worker is not None:
                await served.worker.close()

    async def _loaded(self, report: ScanReport, served: _Served, *, reloaded: bool) -> None:
        entry = served.entry
        event = AgentLoaded(
            scan_id=report.scan_id,
            name=entry.name,
            path=entry.path,
            kind=entry.kind,
            entrypoint=served.entrypoint,
            digest=entry.digest,
            tools=list(entry.tools),
            reloaded=reloaded,
        )
        report.loaded.append(event)
        await self._record(event)

    async def _fail(
        self, report: ScanReport, source: DropinSource, error: DropinError, digest: str = ""
    ) -> None:
        event = _failed_event(report.scan_id, source, error, digest)
        report.failed.append(event)
        await self._record(event)

    async def _unload(self, report: ScanReport, name: str, reason: str) -> None:
        served = self._served.pop(name)
        current = self.registry.get(name)
        if current is served.entry:
            self.registry.remove(name)
        await _release(served)
        event = AgentUnloaded(
            scan_id=report.scan_id, name=name, path=served.entry.path, reason=reason
        )
        report.unloaded.append(event)
        await self._record(event)


async def _release(served: _Served) -> None:
    """Let go of a drop-in that is no longer served (its running requests finish first)."""
    if served.module is not None:
        _forget(served.module)
    if served.worker is not None:
        await served.worker.retire()


def _forget(module: LoadedModule) -> None:
    from app.adapters.discovery.loader import forget

    forget(module.private_name)


def _failed_event(
    scan_id: str, source: DropinSource, error: DropinError, digest: str
) -> DropinFailed:
    return DropinFailed(
        scan_id=scan_id,
        name=source.name,
        path=str(source.path),
        kind="agent",
        error_type=error.error_type,
        message=error.message,
        remediation=error.remediation,
        digest=digest,
    )
