"""``ledgergate serve`` as users run it: a real process on a free loopback port, for the tests
that need the command itself (its workers, signals, terminal output, several nodes) rather than
the in-thread ``LiveGateway``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(settings: Mapping[str, str]) -> dict[str, str]:
    """This environment without the developer's own ``LEDGERGATE_*``/``OPENAI_*`` settings, plus
    ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERGATE_", "OPENAI_"))}
    return env | dict(settings)


class Served:
    """One ``python -m app serve --port <free>`` process; ``base`` is its URL. Its output is piped
    (``stop()`` returns it) or, with ``log``, written to that file."""

    def __init__(self, env: Mapping[str, str], cwd: Path, *args: str, log: Path | None = None):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        self.output: str | None = None  # what it printed, once stopped
        cmd = [sys.executable, "-m", "app", "serve", "--port", str(port), *args]
        if log is None:
            self.proc = subprocess.Popen(
                cmd, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
        else:
            with log.open("wb") as out:
                self.proc = subprocess.Popen(
                    cmd, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT
                )

    def wait_until(self, check: Callable[[], bool], what: str, timeout: float = 60) -> None:
        """Poll ``check`` (a refused connection counts as not yet) while the process lives."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if check():
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, (
                f"the gateway exited waiting for {what}:\n{self.stop()}"
            )
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)  # polling a subprocess's state, not waiting for a projection

    def wait_ready(self, path: str = "/readyz") -> Served:
        self.wait_until(lambda: httpx.get(self.base + path, timeout=1).status_code == 200, path)
        return self

    def stop(self) -> str:
        """SIGTERM (a no-op once it has exited), wait, and return what it printed."""
        if self.output is not None:
            return self.output
        self.proc.terminate()
        try:
            out = self.proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out = self.proc.communicate()[0]
        text = out.decode(errors="replace") if out else ""
        self.output = self.log.read_text(errors="replace") if self.log is not None else text
        return self.output


@contextmanager
def serving(env: Mapping[str, str], cwd: Path, *args: str) -> Iterator[Served]:
    """A ready ``Served`` (``/readyz`` answers 200), stopped on exit; ``.output`` holds what it
    printed once the block has ended."""
    server = Served(env, cwd, *args)
    try:
        yield server.wait_ready()
    finally:
        server.stop()
