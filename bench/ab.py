"""Side-by-side gateway benchmark: this tree against another commit, in one run, interleaved.

Run: ``python -m bench ab [--baseline HEAD~1] [--rounds 3] [--variant NAME=KEY=VALUE]``, e.g.
``--variant fast=LEDGERGATE_UPSTREAM_TRANSPORT=fast``; ``--baseline-setting KEY=VALUE`` gives
the baseline an extra setting.
One fake upstream; one gateway per variant (this tree; the baseline commit checked out into a
temporary git worktree and run with the same venv; optional extra variants of this tree with
extra settings), all started before measuring. Each round measures every cell for every
variant back to back, in a rotating order, so load from other processes on the shared machine
falls on all of them alike. Cells: non-streamed c=1 (added p50 = gateway p50 - direct p50,
direct measured in the same round), non-streamed c=32 and streamed c=32 (requests/s). Prints
the median per variant and the ratio to the baseline, plus each gateway's idle RSS after
start-up; JSON to ``bench/results/ab-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.loadgen_procs import ensure_wrk, memory_mb
from bench.overhead import Target, machine, measure_cell
from bench.rig import MASTER_KEY, REPO, Servers, gateway_env, save

CELLS = (("json", 1), ("json", 32), ("stream", 32))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench ab", description=__doc__)
    p.add_argument("--baseline", default="HEAD~1", help="git commit to compare against")
    p.add_argument(
        "--baseline-setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra setting for the baseline, e.g. LEDGERGATE_UPSTREAM_TRANSPORT=fast",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds of every cell per variant")
    p.add_argument("--duration", type=float, default=5.0, help="seconds measured per cell")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per cell")
    p.add_argument("--ttfb-seconds", type=float, default=1.0, help="seconds of TTFB sampling")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=KEY=VALUE",
        help="this tree with one more setting, e.g. fast=LEDGERGATE_UPSTREAM_TRANSPORT=fast",
    )
    return p.parse_args(argv)


def _checkout(ref: str, into: Path) -> str:
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(into), sha],
        capture_output=True,
        check=True,
    )
    return sha


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    report: dict[str, Any] = {"machine": machine(), "args": vars(args), "rows": []}
    with Servers("ledgergate-ab-") as servers:
        baseline_tree = servers.work / "baseline"
        try:
            report["baseline"] = _checkout(args.baseline, baseline_tree)
            _measure(args, wrk, servers, baseline_tree, report)
        finally:
            servers.stop_all()
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline_tree)],
                capture_output=True,
                check=False,
            )
    report["summary"] = summary(report["rows"], list(report["idle"]))
    print_summary(report["summary"], report["baseline"])
    print(f"wrote {save(report, 'ab')}")
    return 0


def _measure(
    args: argparse.Namespace,
    wrk: str,
    servers: Servers,
    baseline_tree: Path,
    report: dict[str, Any],
) -> None:
    fake, fake_port = servers.fake_upstream()
    variants: list[tuple[str, Path, dict[str, str]]] = [
        ("baseline", baseline_tree, dict(s.split("=", 1) for s in args.baseline_setting)),
        ("current", REPO, {}),
    ]
    for spec in args.variant:
        name, _, setting = spec.partition("=")
        key, _, value = setting.partition("=")
        variants.append((name, REPO, {key: value}))
    targets: list[Target] = []
    report["idle"] = {}
    for name, tree, extra in variants:
        env = gateway_env(fake_port, servers.work / f"{name}.db") | extra
        env["PYTHONPATH"] = str(tree)  # this tree's ``app``, whatever the venv's editable install
        proc, port = servers.gateway(name, env, tree=tree, module=True)
        targets.append(Target(name, port, proc.pid, MASTER_KEY))
        time.sleep(2)  # let start-up work (scans, projections) finish before sampling RSS
        report["idle"][name] = memory_mb(proc.pid)
        print(f"{name}: idle RSS {report['idle'][name]['rss_mb']:.1f} MB", flush=True)
    direct = Target("direct", fake_port, fake.pid, None)
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}", flush=True)
        for mode, conns in CELLS:
            order = targets[r % len(targets) :] + targets[: r % len(targets)]
            if conns == 1:
                order = [direct, *order]
            for target in order:
                row = measure_cell(wrk, target, fake.pid, mode=mode, conns=conns, args=args)
                row["round"] = r
                report["rows"].append(row)


def summary(rows: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, float]]:
    """Medians over rounds: added p50 (non-streamed, c=1), req/s at c=32 for both modes."""

    def cell(name: str, mode: str, conns: int, key: str) -> list[float]:
        return [
            float(r[key])
            for r in rows
            if r["target"] == name and r["mode"] == mode and r["concurrency"] == conns
        ]

    direct = {r["round"]: r["p50_ms"] for r in rows if r["target"] == "direct"}
    out: dict[str, dict[str, float]] = {}
    for name in names:
        added = [
            r["p50_ms"] - direct[r["round"]]
            for r in rows
            if r["target"] == name and r["mode"] == "json" and r["concurrency"] == 1
        ]
        out[name] = {
            "added_p50_ms_c1": statistics.median(added),
            "json_rps_c32": statistics.median(cell(name, "json", 32, "rps")),
            "stream_rps_c32": statistics.median(cell(name, "stream", 32, "rps")),
            "json_cpu_ms_c32": statistics.median(cell(name, "json", 32, "cpu_ms_per_req")),
            "stream_cpu_ms_c32": statistics.median(cell(name, "stream", 32, "cpu_ms_per_req")),
        }
    return out


def print_summary(result: dict[str, dict[str, float]], baseline: str) -> None:
    base = result["baseline"]
    print(f"\nmedians over rounds (baseline = {baseline}); ratio = variant / baseline")
    print(f"{'variant':10} {'added p50 c=1':>16} {'json req/s c=32':>18} {'stream req/s c=32':>19}")
    for name, fig in result.items():
        added, json_rps, stream_rps = (
            fig["added_p50_ms_c1"],
            fig["json_rps_c32"],
            fig["stream_rps_c32"],
        )
        print(
            f"{name:10} {added:8.3f} ms ×{added / base['added_p50_ms_c1']:.2f}"
            f" {json_rps:9.0f} ×{json_rps / base['json_rps_c32']:.2f}"
            f" {stream_rps:10.0f} ×{stream_rps / base['stream_rps_c32']:.2f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
