"""The gateway half of ``bench.postgres``: one node on SQLite, one on PostgreSQL, two on one
PostgreSQL database, non-streamed and streamed, 32 ``wrk`` connections in all, in rounds.

Every configuration's gateways start once, each on its own fresh database, and stay up. Each
round then runs every cell once (configuration × mode), the order rotated by one cell per round
so that over as many rounds as cells each cell takes every slot (none always first, as the
machine's load drifts). A cell's gateways are settled (idle: projections caught up) before and
after it, so the CPU it caused is all counted.
Per cell: requests/s, p50 and p99 of ``wrk``, errors, and CPU per request from ``/proc``: of the
gateway processes, and of the PostgreSQL server backends serving that cell's database. The
summary gives per cell the median and the spread (min–max) over rounds, and the two ratios of
the targets computed within each round (cells of one round ran close together), then their
median and spread. ``--freeze off|both`` adds gateways started with the start-up heap freeze
(``app/heap.py``) replaced by a no-op, to measure what it does for requests.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen_procs import cpu_seconds, free_port, run_wrk, settle
from bench.rig import BODIES, CHAT_PATH, MASTER_KEY, REPO, Servers, gateway_cmd, gateway_env

CONNECTIONS = 32
CONFIGS = {"sqlite": ("sqlite", 1), "pg1": ("postgresql", 1), "pg2": ("postgresql", 2)}
"""Configuration name → (backend, nodes)."""
MODES = ("json", "stream")
NO_FREEZE = (
    "import sys, app.heap; app.heap.freeze_startup_heap = lambda: None;"
    " from app.cli import main; sys.argv[0] = 'ledgergate'; sys.exit(main())"
)
"""``ledgergate`` with the start-up heap freeze (``app/heap.py``) turned off, for ``--freeze``."""


@dataclass
class Config:
    """One configuration's running gateways."""

    name: str
    backend: str
    freeze: bool
    url: str
    ports: list[int] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    backends: list[int] = field(default_factory=list)  # PostgreSQL server backends (pids)

    @property
    def label(self) -> str:
        nodes = f"{len(self.ports)} node{'s' if len(self.ports) > 1 else ''}"
        heap = "" if self.freeze else ", no heap freeze"
        return f"{self.backend} {nodes}{heap}"


def running(servers: Servers, name: str, freeze: bool, url: str, fake_port: int) -> Config:
    """Start configuration ``name``'s nodes on the database ``url`` (``servers`` stops them)."""
    backend, nodes = CONFIGS[name]
    config = Config(name, backend, freeze, url)
    env = gateway_env(fake_port, servers.work / "unused.db") | {"LEDGERGATE_DATABASE_URL": url}
    for i in range(nodes):
        port = free_port()
        cmd = gateway_cmd(port)
        if not freeze:
            cmd = [sys.executable, "-c", NO_FREEZE, *cmd[cmd.index("serve") :]]
        log = f"gw-{name}-{'freeze' if freeze else 'nofreeze'}-{i}"
        proc = servers.start(cmd, log, env, REPO)
        servers.ready(proc, log, f"http://127.0.0.1:{port}/readyz")
        config.ports.append(port)
        config.pids.append(proc.pid)
    return config


def cell(wrk: str, config: Config, mode: str, seconds: float) -> dict[str, Any]:
    """``wrk`` on every node of ``config`` at once (32 connections split evenly)."""
    from bench.postgres import backends_cpu, server_backends  # bench.postgres imports this

    for pid in config.pids:
        settle(pid)
    config.backends = server_backends(config.url)  # pools may have opened more meanwhile
    cpu0, server0 = sum(map(cpu_seconds, config.pids)), backends_cpu(config.backends)
    results = wrk_together(wrk, config.ports, mode, seconds)
    for pid in config.pids:
        settle(pid)
    cpu = sum(map(cpu_seconds, config.pids)) - cpu0
    server = backends_cpu(config.backends) - server0
    requests = max(1, int(sum(r["requests"] for r in results)))
    return {
        "config": config.name,
        "label": config.label,
        "mode": mode,
        "rps": requests / (max(r["duration_us"] for r in results) / 1e6),
        "p50_ms": max(r["p50_us"] for r in results) / 1000,
        "p99_ms": max(r["p99_us"] for r in results) / 1000,
        "errors": sum(int(v) for r in results for k, v in r.items() if k.startswith("errors_")),
        "gateway_cpu_ms": cpu * 1000 / requests,
        "server_cpu_ms": server * 1000 / requests,
    }


def wrk_together(wrk: str, ports: list[int], mode: str, seconds: float) -> list[dict[str, Any]]:
    """``CONNECTIONS`` in all, split evenly over the nodes, measured at the same time."""
    results: list[dict[str, Any]] = []
    conns = CONNECTIONS // len(ports)

    def one(port: int) -> None:
        url = f"http://127.0.0.1:{port}{CHAT_PATH}"
        body = BODIES[mode]
        results.append(run_wrk(wrk, url, body, key=MASTER_KEY, connections=conns, seconds=seconds))

    threads = [threading.Thread(target=one, args=(p,)) for p in ports]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def rotated(cells: list[Any], round_index: int) -> list[Any]:
    """``cells`` rotated left by ``round_index``: over len(cells) rounds each takes every slot."""
    k = round_index % len(cells)
    return cells[k:] + cells[:k]


def gateway_rounds(
    wrk: str,
    servers: Servers,
    databases: Iterator[str],
    *,
    configs: list[str],
    freezes: list[bool],
    rounds: int,
    seconds: float,
    fake_port: int,
) -> list[dict[str, Any]]:
    """Every cell once per round, rotating; a row per cell and round (``round`` from 1)."""
    running_configs = [
        running(servers, name, f, next(databases), fake_port) for name in configs for f in freezes
    ]
    cells = [(c, mode) for mode in MODES for c in running_configs]
    for config, mode in cells:  # warm-up: every route and pool once
        wrk_together(wrk, config.ports, mode, 2.0)
    rows: list[dict[str, Any]] = []
    for r in range(rounds):
        for config, mode in rotated(cells, r):
            row = cell(wrk, config, mode, seconds)
            row |= {"round": r + 1, "loadavg": os.getloadavg()[0], "freeze": config.freeze}
            rows.append(row)
            print(
                f"  round {r + 1} {row['label']:34} {mode:6} {row['rps']:8.1f} req/s"
                f"  p50 {row['p50_ms']:.1f} ms  p99 {row['p99_ms']:.1f} ms"
                f"  CPU/req {row['gateway_cpu_ms']:.2f} ms gateway"
                f" + {row['server_cpu_ms']:.2f} ms server  errors {row['errors']}"
                f"  load {row['loadavg']:.1f}",
                flush=True,
            )
    return rows


def spread(values: list[float], fmt: str = "{:,.1f}") -> str:
    """Median and (min–max) of ``values``."""
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def summary(rows: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The Markdown tables (cells, then the targets' ratios) and the same figures as data."""
    keys = list(dict.fromkeys((r["label"], r["config"], r["freeze"], r["mode"]) for r in rows))
    rounds = max(r["round"] for r in rows)
    lines = [
        f"Medians over {rounds} round(s), (min–max) across rounds; c={CONNECTIONS} wrk"
        f" connections in all; load average {spread([r['loadavg'] for r in rows])}.",
        "",
        "| gateway | mode | req/s | p50 ms | p99 ms | CPU ms/req gateway | CPU ms/req"
        " PostgreSQL server | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    cells: dict[str, Any] = {}
    for label, name, freeze, mode in keys:
        mine = [r for r in rows if r["config"] == name and r["freeze"] == freeze
                and r["mode"] == mode]  # fmt: skip
        cells[f"{name}{'' if freeze else '-nofreeze'}-{mode}"] = {
            k: statistics.median(r[k] for r in mine)
            for k in ("rps", "p50_ms", "p99_ms", "gateway_cpu_ms", "server_cpu_ms")
        }
        server = spread([r["server_cpu_ms"] for r in mine], "{:.2f}")
        lines.append(
            f"| {label} | {mode} | {spread([r['rps'] for r in mine])}"
            f" | {spread([r['p50_ms'] for r in mine])} | {spread([r['p99_ms'] for r in mine])}"
            f" | {spread([r['gateway_cpu_ms'] for r in mine], '{:.2f}')}"
            f" | {server if name != 'sqlite' else '—'}"
            f" | {sum(r['errors'] for r in mine)} |"
        )
    ratios = _ratios(rows)
    if ratios:
        lines += [
            "",
            "| ratio of req/s, per round | mode | median (min–max) | target |",
            "|---|---|---:|---|",
        ]
        for (name, mode, target), values in ratios.items():
            pct = [100 * v for v in values]
            lines.append(f"| {name} | {mode} | {spread(pct, '{:.0f} %')} | {target} |")
    data = {"cells": cells, "ratios": {f"{n} {m}": v for (n, m, _), v in ratios.items()}}
    return "\n".join(lines), data


def _ratios(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[float]]:
    """Per round and mode: PG 1 node / SQLite, PG 2 nodes / PG 1 node (heap freeze on), and a
    configuration without the freeze / with it."""
    out: dict[tuple[str, str, str], list[float]] = {}
    pairs = [
        ("pg1", True, "sqlite", True, "PostgreSQL 1 node / SQLite 1 node", "≥ 70 %"),
        ("pg2", True, "pg1", True, "PostgreSQL 2 nodes / 1 node", "≥ 100 %"),
    ]
    pairs += [
        (name, False, name, True, f"{CONFIGS[name][0]} {CONFIGS[name][1]} node(s): no freeze /"
         " freeze", "")
        for name in CONFIGS
    ]  # fmt: skip
    by = {(r["round"], r["config"], r["freeze"], r["mode"]): r["rps"] for r in rows}
    rounds = sorted({r["round"] for r in rows})
    for top, top_f, bottom, bottom_f, name, target in pairs:
        for mode in MODES:
            values = [
                by[(n, top, top_f, mode)] / by[(n, bottom, bottom_f, mode)]
                for n in rounds
                if (n, top, top_f, mode) in by and (n, bottom, bottom_f, mode) in by
            ]
            if values:
                out[(name, mode, target)] = values
    return out
