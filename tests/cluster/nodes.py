"""Gateway nodes as real ``ledgergate serve`` processes on one database, for cluster tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.serve import ROOT, Served, serve_env

MASTER = "mk-cluster"


def node_env(database_url: str, upstream: str, lease_s: float) -> dict[str, str]:
    return serve_env(
        {
            "LEDGERGATE_DATABASE_URL": database_url,
            "LEDGERGATE_MASTER_KEY": MASTER,
            "LEDGERGATE_AGENTS_DIRS": str(ROOT / "src" / "agents"),
            "LEDGERGATE_TOOLS_DIRS": str(ROOT / "src" / "tools"),
            "LEDGERGATE_WATCH_DROPINS": "false",
            "LEDGERGATE_UPSTREAM_BASE_URL": upstream,
            "LEDGERGATE_UPSTREAM_API_KEY": "sk-fake",
            "LEDGERGATE_NODE_LEASE_S": str(lease_s),
        }
    )


class Cluster:
    """Nodes started with ``start()`` on one database; ``stop()`` ends those still running."""

    def __init__(self, database_url: str, upstream: str, tmp_path: Path, lease_s: float = 2.0):
        self.env = node_env(database_url, upstream, lease_s)
        self.tmp_path = tmp_path
        self.nodes: list[Served] = []

    def start(self) -> Served:
        log = self.tmp_path / f"node-{len(self.nodes)}.log"
        node = Served(self.env, self.tmp_path, log=log)
        self.nodes.append(node)
        node.wait_ready("/healthz")
        return node

    def stop(self) -> None:
        for node in self.nodes:  # all told first, so they shut down side by side
            node.proc.terminate()
        for node in self.nodes:
            node.stop()


@contextmanager
def cluster(
    database_url: str, upstream: str, tmp_path: Path, lease_s: float = 2.0
) -> Iterator[Cluster]:
    c = Cluster(database_url, upstream, tmp_path, lease_s)
    try:
        yield c
    finally:
        c.stop()
