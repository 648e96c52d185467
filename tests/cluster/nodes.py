"""Gateway nodes as real ``ledgergate serve`` processes on one database, for cluster tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
MASTER = "mk-cluster"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    """One ``ledgergate serve`` process; ``base`` is its URL."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.base = f"http://127.0.0.1:{port}"
        self.log = log

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the node never became ready"
            time.sleep(0.1)  # polling a subprocess's readiness, not waiting for a projection


def node_env(database_url: str, upstream: str, lease_s: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERGATE_", "OPENAI_"))}
    return env | {
        "LEDGERGATE_DATABASE_URL": database_url,
        "LEDGERGATE_MASTER_KEY": MASTER,
        "LEDGERGATE_AGENTS_DIRS": str(ROOT / "src" / "agents"),
        "LEDGERGATE_TOOLS_DIRS": str(ROOT / "src" / "tools"),
        "LEDGERGATE_WATCH_DROPINS": "false",
        "LEDGERGATE_UPSTREAM_BASE_URL": upstream,
        "LEDGERGATE_UPSTREAM_API_KEY": "sk-fake",
        "LEDGERGATE_NODE_LEASE_S": str(lease_s),
    }


class Cluster:
    """Nodes started with ``start()`` on one database; ``stop()`` ends those still running."""

    def __init__(self, database_url: str, upstream: str, tmp_path: Path, lease_s: float = 2.0):
        self.env = node_env(database_url, upstream, lease_s)
        self.tmp_path = tmp_path
        self.nodes: list[Node] = []

    def start(self) -> Node:
        port = free_port()
        log = self.tmp_path / f"node-{len(self.nodes)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--port", str(port)],
                cwd=self.tmp_path,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        node = Node(proc, port, log)
        self.nodes.append(node)
        node.wait_ready()
        return node

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc.poll() is None:
                node.proc.terminate()
        for node in self.nodes:
            try:
                node.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.proc.kill()


@contextmanager
def cluster(
    database_url: str, upstream: str, tmp_path: Path, lease_s: float = 2.0
) -> Iterator[Cluster]:
    c = Cluster(database_url, upstream, tmp_path, lease_s)
    try:
        yield c
    finally:
        c.stop()
