"""Take the console's screenshots in docs/console/ (``python -m tests.console.screenshots``).

Starts a gateway with the sample drop-ins, a failing one and the offline upstream, sends traffic
for ``--minutes`` minutes (so the charts have a shape), then photographs each view in Debian's
Chromium at 1280 px, and two at 400 px.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import expect, sync_playwright

from tests.console.harness import ROOT, chat, chromium, populated_gateway
from tests.support.live_server import LiveGateway

OUT = ROOT / "docs" / "console"


def traffic(gw: LiveGateway, minutes: float) -> None:
    """A few requests a second, more in some minutes than others, until ``minutes`` pass."""
    end = time.monotonic() + minutes * 60
    prompts = [
        ("assistant", "What time is it in UTC? Use get_time."),
        ("concierge", 'What are the office_hours in "Tokyo"?'),
        ("gpt-4o-mini", "Say hello to the auditors."),
        ("refund_desk", 'Can I return my "kettle"?'),
    ]
    i = 0
    while time.monotonic() < end:
        model, text = prompts[i % len(prompts)]
        chat(gw, model, text, stream=i % 3 == 0)
        i += 1
        minute = int((end - time.monotonic()) // 60)
        time.sleep(0.15 if minute % 2 else 0.5)


def shoot(page: Any, gw: LiveGateway, view: str, name: str, ready: str) -> None:
    page.goto(gw.url(f"/console#{view}"))
    expect(page.locator(ready).first).to_be_visible()
    page.wait_for_load_state("networkidle") if view != "tail" else None
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
    print(f"wrote {OUT / name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=3.0, help="traffic before the shots")
    args = parser.parse_args()
    path = chromium()
    if path is None:
        raise SystemExit("needs Debian's Chromium: apt-get install -y chromium")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        gw = populated_gateway(Path(home))
        try:
            traffic(gw, args.minutes)
            replay = next(
                r["request_id"]
                for r in gw.call(_requests, gw)
                if r["model"] == "assistant" and r["tool_calls"]
            )
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(gw.url("/console"))
                page.get_by_label("Admin key").fill(gw.master_key)
                page.get_by_role("button", name="Open the console").click()
                shoot(page, gw, "overview", "overview", "#overview-charts figure")
                shoot(page, gw, "requests", "requests", "#request-results tbody tr")
                shoot(page, gw, f"requests/{replay}", "replay", "#replay-timeline .step-answer")
                shoot(page, gw, "tail", "tail", "#tail-rows tr")
                shoot(page, gw, "tools", "tools", "#tools-totals tbody tr")
                shoot(page, gw, "dropins", "dropins", "#dropins-failed .failure")
                shoot(page, gw, "chain", "chain", "#chain-facts")
                page.goto(gw.url("/console#keys"))
                page.get_by_label("Name").fill("ci-bot")
                page.get_by_label("Agents").fill("assistant")
                page.get_by_role("button", name="Create key").click()
                shoot(page, gw, "keys", "keys", "#new-key")
                page.set_viewport_size({"width": 400, "height": 800})
                shoot(page, gw, "overview", "overview-400px", "#overview-charts figure")
                shoot(page, gw, f"requests/{replay}", "replay-400px", "#replay-timeline .step")
                browser.close()
        finally:
            gw.stop()


async def _requests(gw: LiveGateway) -> list[dict[str, Any]]:
    import httpx

    async with httpx.AsyncClient() as client:
        response = await client.get(gw.url("/admin/requests"), headers=gw.headers())
        rows: list[dict[str, Any]] = response.json()["requests"]
        return rows


if __name__ == "__main__":
    main()
