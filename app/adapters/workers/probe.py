"""Import probes: a drop-in is imported in a throwaway child process before the gateway imports it.

A drop-in's import can hang (``while True: pass``), kill its process (``os._exit``), raise
``KeyboardInterrupt``, leave threads running or patch the Agents SDK or the gateway. Done in the
gateway's own process, any of these stops or corrupts it. So each new or changed Python drop-in
is first imported in a child process, with a deadline (``LEDGERGATE_DROPIN_IMPORT_TIMEOUT_S``;
the child is killed when it passes) and an address-space limit
(``LEDGERGATE_DROPIN_MEMORY_LIMIT_MB``, ``RLIMIT_AS`` set in the child). Only a drop-in whose
probe comes back clean is imported by the gateway; any other is a failed drop-in with a
remediation line.

Children are forked by a probe server (``probe_server``) that has imported the Agents SDK and
the loader once (see ADR 0007), so a probe costs a fork plus the drop-in's own import, and the
gateway process itself never forks. This module stays light: the SDK is imported only there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import msgspec

from app.adapters.discovery.files import DropinSource
from app.adapters.workers.protocol import ProbeRequest, ProbeResult
from app.services.agents import DropinError

SERVER_MODULE = "app.adapters.workers.probe_server"


class _Server:
    """The probe server process and the gateway's end of its socket."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        self.process = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal is the gateway's to handle
        )
        theirs.close()

    def fork(self, payload: bytes, result_fd: int) -> int:
        """Ask the server for one probe child; its pid. Raises OSError if the server is gone."""
        socket.send_fds(self.sock, [payload], [result_fd])
        answer = self.sock.recv(4)
        if len(answer) != 4:
            raise OSError("the probe server exited")
        pid: int = struct.unpack("!i", answer)[0]
        return pid

    def close(self) -> None:
        self.sock.close()
        self.process.wait()


class _Servers:
    """The one probe server of this process, started on first use and again if it died."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.server: _Server | None = None

    def fork(self, payload: bytes, result_fd: int) -> int:
        with self.lock:  # one exchange at a time on the socket; the probes run in parallel
            for attempt in (1, 2):
                if self.server is None or self.server.process.poll() is not None:
                    self.server = _Server()
                try:
                    return self.server.fork(payload, result_fd)
                except OSError:
                    self.server.sock.close()
                    self.server = None
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")


SERVERS = _Servers()


def _read_exactly(fd: int, size: int, deadline: float) -> bytes | None:
    """``size`` bytes from ``fd`` before ``deadline``; None on timeout; short on EOF."""
    out = b""
    while len(out) < size:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, size - len(out))
        if not chunk:
            break
        out += chunk
    return out


def timed_out(timeout_s: float) -> ProbeResult:
    return ProbeResult(
        ok=False,
        error_type="import_timeout",
        message=f"the import did not finish within {timeout_s:g} s (the probe was killed)",
        remediation=(
            "Move slow or blocking work out of import time (into the agent's tools), or raise "
            f"LEDGERGATE_DROPIN_IMPORT_TIMEOUT_S (now {timeout_s:g})."
        ),
    )


def died() -> ProbeResult:
    return ProbeResult(
        ok=False,
        error_type="import_crashed",
        message="the import ended its process before it finished",
        remediation=(
            "Remove os._exit(), os.kill() or native crashes from import time: in the gateway "
            "they would stop every agent."
        ),
    )


def probe_sync(request: ProbeRequest, timeout_s: float) -> ProbeResult:
    """Import one drop-in in a child process; blocks up to ``timeout_s`` after the fork."""
    read_fd, write_fd = os.pipe()
    try:
        try:
            pid = SERVERS.fork(msgspec.msgpack.encode(request), write_fd)
        finally:
            os.close(write_fd)  # the child holds its own copy: EOF once it is gone
        deadline = time.monotonic() + timeout_s
        header = _read_exactly(read_fd, 4, deadline)
        body = b""
        if header is not None and len(header) == 4:
            body_or_none = _read_exactly(read_fd, struct.unpack("!I", header)[0], deadline)
            header = None if body_or_none is None else header
            body = body_or_none or b""
        if header is None:
            _kill(pid)
            return timed_out(timeout_s)
        if len(header) < 4 or not body:
            return died()
        return msgspec.msgpack.decode(body, type=ProbeResult)
    finally:
        os.close(read_fd)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it finished just now
        os.kill(pid, signal.SIGKILL)


class ImportProbe:
    """Probes drop-ins with the settings' deadline and memory limit."""

    def __init__(self, *, timeout_s: float, memory_limit_mb: int) -> None:
        self.timeout_s = timeout_s
        self.memory_limit_mb = memory_limit_mb
        self._tool_verdicts: dict[str, tuple[str, DropinError | None]] = {}

    async def check(
        self, source: DropinSource, gateway_tools: list[tuple[str, str, dict[str, Any], bool]]
    ) -> DropinError | None:
        """None if the drop-in imports cleanly in a child, else the failure to report."""
        request = ProbeRequest(
            kind="agent",
            name=source.name,
            path=str(source.path),
            folder=str(source.folder) if source.folder is not None else None,
            cwd=os.getcwd(),
            env=dict(os.environ),
            memory_limit_mb=self.memory_limit_mb,
            gateway_tools=gateway_tools,
        )
        return await self._verdict(request)

    async def check_tool_module(self, name: str, path: Path, digest: str) -> DropinError | None:
        """None if the tool module imports cleanly in a child, else the failure to report.

        Tool modules are imported again on every scan: an unchanged one (same ``digest``) keeps
        its last verdict instead of a new probe.
        """
        known = self._tool_verdicts.get(str(path))
        if known is not None and known[0] == digest:
            return known[1]
        request = ProbeRequest(
            kind="tool_module",
            name=name,
            path=str(path),
            folder=None,
            cwd=os.getcwd(),
            env=dict(os.environ),
            memory_limit_mb=self.memory_limit_mb,
            gateway_tools=[],
        )
        verdict = await self._verdict(request)
        self._tool_verdicts[str(path)] = (digest, verdict)
        return verdict

    async def _verdict(self, request: ProbeRequest) -> DropinError | None:
        result = await asyncio.to_thread(probe_sync, request, self.timeout_s)
        if result.ok:
            return None
        return DropinError(result.error_type, result.message, result.remediation)
