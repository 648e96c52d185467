"""What the gateway benchmarks share: the gateway's settings, servers started on loopback in a
scratch folder and stopped with it, one measured wrk cell, alternating rounds, the results file.
Each benchmark keeps its own cells, summaries and tables.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from bench import loadgen
from bench.loadgen_procs import (
    BENCH_DIR,
    cpu_seconds,
    free_port,
    run_wrk,
    settle,
    start,
    stop,
    wait_http,
)

REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
MASTER_KEY = "lg-master-bench"
CHAT_PATH = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "Say hello in thirty-three words."}]
BODIES = {
    "json": json.dumps({"model": "bench-model", "messages": MESSAGES}).encode(),
    "stream": json.dumps({"model": "bench-model", "messages": MESSAGES, "stream": True}).encode(),
}
Row = dict[str, Any]


def gateway_env(fake_port: int, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERGATE_", "OPENAI_"))}
    env.update(
        LEDGERGATE_DATABASE_URL=f"sqlite+aiosqlite:///{db}",
        LEDGERGATE_UPSTREAM_BASE_URL=f"http://127.0.0.1:{fake_port}/v1",
        LEDGERGATE_UPSTREAM_API_KEY="bench",
        LEDGERGATE_MASTER_KEY=MASTER_KEY,
        LEDGERGATE_SQLITE_SYNCHRONOUS="FULL",
        LEDGERGATE_RUN_PROJECTIONS="true",
    )
    return env


def gateway_cmd(port: int, *, module: bool = False) -> list[str]:
    """``ledgergate serve``, one worker; ``module`` runs ``python -m app`` from the working
    directory instead (another tree's ``app``, whatever the venv's editable install)."""
    script = REPO / ".venv" / "bin" / "ledgergate"
    base = [str(script)] if script.exists() and not module else [sys.executable, "-m", "app"]
    return [*base, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]


class Servers:
    """The servers one run starts, their logs in a scratch folder; on exit all are stopped,
    newest first, and the folder is removed unless ``keep`` (set it to read the logs)."""

    def __init__(self, prefix: str, *, keep: bool = False) -> None:
        self.work = Path(tempfile.mkdtemp(prefix=prefix))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.keep = keep

    def __enter__(self) -> Servers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()
        if self.keep:
            print(f"kept {self.work} (servers' logs, the gateway's database)")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def start(
        self, cmd: list[str], name: str, env: Mapping[str, str] | None = None, cwd: Path = REPO
    ) -> subprocess.Popen[bytes]:
        proc = start(cmd, self.work / f"{name}.log", env, cwd)
        self.procs.append(proc)
        return proc

    def ready(
        self, proc: subprocess.Popen[bytes], name: str, url: str, timeout: float = 60
    ) -> None:
        wait_http(url, proc, self.work / f"{name}.log", timeout)

    def fake_upstream(self, *options: str) -> tuple[subprocess.Popen[bytes], int]:
        """``bench/fake_upstream.py`` on a free port, answering."""
        port = free_port()
        cmd = [sys.executable, "-m", "bench.fake_upstream", "--port", str(port), *options]
        proc = self.start(cmd, "fake")
        self.ready(proc, "fake", f"http://127.0.0.1:{port}/v1/models")
        return proc, port

    def gateway(
        self, name: str, env: Mapping[str, str], *, tree: Path = REPO, module: bool = False
    ) -> tuple[subprocess.Popen[bytes], int]:
        """A gateway on a free port, ready (``/readyz``)."""
        port = free_port()
        proc = self.start(gateway_cmd(port, module=module), name, env, tree)
        self.ready(proc, name, f"http://127.0.0.1:{port}/readyz")
        return proc, port

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)
        self.procs = []


def wrk_cell(
    wrk: str, port: int, pid: int, path: str, body: bytes, *, conns: int, seconds: float
) -> Row:
    """One cell once the gateway is idle: wrk's req/s and latency, the CPU per request of the
    gateway's process tree (waiting for it to go idle again, so deferred work counts), then
    2 s of TTFB sampling (not counted in the CPU)."""
    settle(pid)
    cpu0 = cpu_seconds(pid)
    result = run_wrk(
        wrk,
        f"http://127.0.0.1:{port}{path}",
        body,
        key=MASTER_KEY,
        connections=conns,
        seconds=seconds,
    )
    settle(pid)
    done = max(1, int(result["requests"]))
    errors = sum(int(v) for k, v in result.items() if k.startswith("errors_"))
    cpu = (cpu_seconds(pid) - cpu0) * 1000 / done
    samples = loadgen.measure(
        "127.0.0.1", port, path, body=body, key=MASTER_KEY, concurrency=conns, seconds=2.0
    )
    return {
        "rps": done / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "cpu_ms_per_req": cpu,
        "ttfb_p50_ms": loadgen.percentile_ms(samples.ttfb_ns, 0.5),
        "ttfb_p99_ms": loadgen.percentile_ms(samples.ttfb_ns, 0.99),
        "errors": errors + samples.errors,
    }


def alternate(
    names: Sequence[str],
    concurrencies: str,
    rounds: int,
    measure: Callable[[str, int], Row],
    line: Callable[[Row], str],
    *,
    label: str,
    cells: list[Row],
) -> dict[int, dict[str, list[Row]]]:
    """Per concurrency (``"1,32"``), ``rounds`` rounds of every name in turn, so drift on a shared
    machine hits all alike; prints each cell and adds it to ``cells`` under ``label``."""
    out: dict[int, dict[str, list[Row]]] = {}
    for conns in [int(c) for c in concurrencies.split(",")]:
        rows: dict[str, list[Row]] = {name: [] for name in names}
        for n in range(rounds):
            for name in names:
                row = measure(name, conns)
                rows[name].append(row)
                cells.append({label: name, "concurrency": conns, **row})
                print(f"  round {n + 1} c={conns:<3} {name:9} {line(row)}", flush=True)
        out[conns] = rows
    return out


def median(rows: Sequence[Row], key: str) -> float:
    return statistics.median(float(r[key]) for r in rows)


def save(report: Row, kind: str) -> Path:
    """``bench/results/<kind>-<timestamp>.json``."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{kind}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    return out
