"""The console in Debian's Chromium (Playwright), against a real gateway that served requests."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import Recorded, login
from tests.console.harness import chat
from tests.support.live_server import LiveGateway


def _admin(gw: LiveGateway, path: str, **params: Any) -> Any:
    return httpx.get(gw.url(path), headers=gw.headers(), params=params, timeout=30).json()


def _requests(gw: LiveGateway) -> list[dict[str, Any]]:
    head = gw.call(gw.services.store.head)
    rows: list[dict[str, Any]] = _admin(gw, "/admin/requests", min_position=head)["requests"]
    return rows


def test_overview_shows_the_traffic(page: Any, gateway: LiveGateway) -> None:
    login(page, gateway)
    head = gateway.call(gateway.services.store.head)
    snapshot = _admin(gateway, "/admin/metrics", min_position=head)
    stats = page.locator("#overview-stats")
    expect(stats.locator(".stat").first).to_contain_text(f"Requests{snapshot['requests']['total']}")
    expect(stats).to_contain_text("1 failed")  # the broken drop-in
    charts = page.locator("#overview-charts figure")
    expect(charts).to_have_count(4)
    rate = charts.nth(0).locator("svg")
    expect(rate).to_have_attribute("aria-label", re.compile(r"peak 0\.\d*[1-9]"))
    expect(charts.nth(1)).to_contain_text("p95")
    expect(charts.nth(3).locator("path.line")).to_have_count(2)


def test_requests_are_searchable_and_open_as_a_timeline(page: Any, gateway: LiveGateway) -> None:
    rows = _requests(gateway)
    login(page, gateway, "requests")
    table = page.locator("#request-results")
    for row in rows:
        expect(table).to_contain_text(row["request_id"])

    page.get_by_label("Model").fill("concierge")
    page.get_by_role("button", name="Search").click()
    concierge = [r["request_id"] for r in rows if r["model"] == "concierge"]
    expect(table.locator("tbody tr")).to_have_count(len(concierge))

    page.get_by_label("Model").fill("")
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Search").click()
    (refused,) = [r for r in rows if r["status"] == "failed"]
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text(refused["request_id"])

    page.get_by_label("Status").select_option("")
    page.get_by_label("Key id").fill(refused["key_id"])
    page.get_by_role("button", name="Search").click()
    expect(table.locator("tbody tr")).to_have_count(
        len([r for r in rows if r["key_id"] == refused["key_id"]])
    )

    # Search by id opens the replay: input, decisions, upstream calls, the tool call, the answer.
    (timed,) = [r for r in rows if r["model"] == "assistant" and r["key_id"] == "master"][-1:]
    page.get_by_label("Request id").fill(timed["request_id"])
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(f"#requests/{timed['request_id']}$"))
    timeline = page.locator("#replay-timeline")
    expect(timeline).to_contain_text("Request received: assistant")
    expect(timeline).to_contain_text("What time is it in UTC? Use get_time.")
    expect(timeline).to_contain_text("Access allowed: use agent assistant")
    expect(timeline).to_contain_text("Upstream call 1: gpt-4o-mini")
    expect(timeline).to_contain_text("Tool call get_time (gateway, agent assistant)")
    expect(timeline.locator(".step-tool").nth(1)).to_contain_text("timezone")
    expect(timeline).to_contain_text("Answered in")
    replay = _admin(gateway, f"/admin/requests/{timed['request_id']}")
    expect(timeline.locator(".step-answer .answer")).to_have_text(replay["answer"]["content"])
    expect(page.locator("#replay-head")).to_contain_text(f"{replay['events']} events")
    # The audit bundle, checked in the browser: signature, every event hash, every proof.
    expect(page.locator("#audit-state")).to_have_text(
        "The audit bundle verifies (checked in this browser)."
    )
    checks = page.locator("#replay-audit .check")
    expect(checks).to_have_count(4)
    expect(page.locator("#replay-audit .check-ok")).to_have_count(4)
    expect(checks.nth(1)).to_contain_text("Signature: signed by")
    expect(checks.nth(2)).to_contain_text(f"{replay['events']} of {replay['events']} events")

    # The SDK agent's call that the key's policy denied shows as a denial.
    (denied,) = [r for r in rows if r["acl_denials"] and r["status"] == "completed"]
    page.goto(gateway.url(f"/console#requests/{denied['request_id']}"))
    expect(timeline).to_contain_text("Access denied: call tool office_hours")
    expect(timeline).to_contain_text("Tool office_hours denied")


def test_tail_shows_a_new_request_within_two_seconds(page: Any, gateway: LiveGateway) -> None:
    login(page, gateway, "tail")
    expect(page.locator("#tail-state")).to_have_text("live")
    expect(page.locator("#tail-rows tr").first).to_be_attached()  # the last events, at once
    request_id = chat(gateway, "gpt-4o-mini", "Tail me.")
    rows = page.locator(f'#tail-rows tr[data-stream="request:{request_id}"]')
    expect(rows.filter(has_text="request.received")).to_be_visible(timeout=2000)
    expect(rows.filter(has_text="request.completed")).to_be_visible(timeout=2000)


def test_tools_show_calls_denials_by_source_and_agent(page: Any, gateway: LiveGateway) -> None:
    login(page, gateway, "tools")
    totals = page.locator("#tools-totals tbody tr")
    office = totals.filter(has_text="office_hours")
    expect(office).to_contain_text("sdk 2")
    expect(office).to_contain_text("concierge 2")
    expect(office.locator("td").nth(4)).to_have_text("1")  # denied
    expect(totals.filter(has_text="get_time")).to_contain_text("gateway")
    breakdown = page.locator("#tools-breakdown tbody tr").filter(has_text="get_time")
    expect(breakdown.locator("td").nth(6)).to_have_text(re.compile(r"\d.* ms"))  # p50


def test_dropins_show_failures_with_remediation_and_rescan(page: Any, gateway: LiveGateway) -> None:
    login(page, gateway, "dropins")
    failed = page.locator("#dropins-failed")
    expect(failed).to_contain_text("weather")
    expect(failed).to_contain_text("No module named 'weather_sdk'")
    expect(failed).to_contain_text("How to fix: pip install weather-sdk")
    expect(page.locator("#dropins-loaded")).to_contain_text("concierge")

    # A new broken drop-in appears after a rescan from the page (no file watcher in tests).
    agents = gateway.settings.agents_dirs[0]
    with open(f"{agents}/ledger_sdk_user.py", "w") as out:
        out.write("import ledger_sdk\n")
    page.get_by_role("button", name="Rescan drop-ins").click()
    expect(page.locator("#rescan-outcome")).to_contain_text("Rescanned: ")
    expect(failed).to_contain_text("ledger_sdk_user")
    expect(failed).to_contain_text("No module named 'ledger_sdk'")


def test_create_a_key_shown_once_then_revoke_it(page: Any, gateway: LiveGateway) -> None:
    login(page, gateway, "keys")
    page.get_by_label("Name").fill("browser-made")
    page.get_by_label("Agents").fill("assistant")
    page.get_by_label("Tools").fill("get_time")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key")
    expect(secret).to_have_value(re.compile(r"^lg-"))
    key = secret.input_value()
    models = httpx.get(gateway.url("/v1/models"), headers=gateway.headers(key), timeout=30)
    assert [m["id"] for m in models.json()["data"]] == ["assistant"]
    row = page.locator("#key-list tbody tr").filter(has_text="browser-made")
    expect(row).to_contain_text("active")
    expect(page.locator("#key-list")).not_to_contain_text(key)

    page.reload()  # shown once: gone after a reload, never listed
    expect(row).to_contain_text("active")
    expect(page.locator("#new-key")).to_have_count(0)
    assert key not in page.content()

    revoke = row.get_by_role("button", name="Revoke browser-made")
    revoke.click()
    row.get_by_role("button", name="Really revoke browser-made?").click()
    expect(row).to_contain_text("revoked")
    refused = httpx.get(gateway.url("/v1/models"), headers=gateway.headers(key), timeout=30)
    assert refused.status_code == 401


def test_chain_status_and_checkpoint(page: Any, gateway: LiveGateway) -> None:
    login(page, gateway, "chain")
    head = gateway.call(gateway.services.store.head)
    page.get_by_role("button", name="Verify the whole chain now").click()
    facts = page.locator("#chain-facts")
    expect(facts).to_have_attribute("data-state", "ok")
    expect(facts).to_contain_text("The chain verifies")
    checked = int(facts.locator("dd").nth(1).inner_text().replace(",", ""))
    assert checked >= head
    checkpoint = page.locator("#checkpoint-state")
    expect(checkpoint).to_contain_text("Tree size")
    expect(checkpoint).to_contain_text("verified: signed by")
    vkey = httpx.get(gateway.url("/audit/key"), timeout=30).text.strip()
    expect(checkpoint).to_contain_text(vkey)


def test_the_key_lives_only_in_session_storage(
    page: Any, gateway: LiveGateway, recorded: Recorded
) -> None:
    login(page, gateway, "requests")
    expect(page.locator("#request-results tbody tr").first).to_be_visible()
    key = gateway.master_key
    assert page.evaluate("sessionStorage.getItem('ledgergate.key')") == key
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert page.context.cookies() == []
    data_calls = [(u, h) for u, h in recorded.requests if "/admin/" in u or "/audit/" in u]
    assert data_calls
    for url, headers in data_calls:
        assert headers.get("authorization") == f"Bearer {key}", url
    # Another tab starts without it (sessionStorage is per tab); forgetting removes it.
    other = page.context.new_page()
    other.goto(gateway.url("/console"))
    expect(other.get_by_label("Admin key")).to_be_visible()
    other.close()
    page.get_by_role("button", name="Forget key").click()
    expect(page.get_by_label("Admin key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_a_wrong_key_is_refused_on_the_login_form(page: Any, gateway: LiveGateway) -> None:
    page.goto(gateway.url("/console"))
    page.get_by_label("Admin key").fill("lg-not-a-key")
    page.get_by_role("button", name="Open the console").click()
    expect(page.locator("#login-error")).to_have_text("The gateway does not know this key.")
    assert page.evaluate("sessionStorage.length") == 0


def test_keyboard_only_at_400_pixels(page: Any, gateway: LiveGateway) -> None:
    page.set_viewport_size({"width": 400, "height": 800})
    page.goto(gateway.url("/console"))
    expect(page.get_by_label("Admin key")).to_be_focused()  # the page starts there
    page.keyboard.type(gateway.master_key)
    page.keyboard.press("Enter")
    expect(page.locator("#overview-stats .stat").first).to_be_visible()

    def tab_to(name: str) -> None:
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent.trim()") == name:
                return
        raise AssertionError(f"Tab never reached {name!r}")

    for view, check in [
        ("Requests", "#request-results tbody tr"),
        ("Tools", "#tools-totals tbody tr"),
        ("Drop-ins", "#dropins-failed .failure"),
        ("Keys", "#key-list tbody tr"),
        ("Chain", "#chain-facts"),
        ("Live tail", "#tail-rows tr"),
        ("Overview", "#overview-charts figure"),
    ]:
        page.evaluate("window.scrollTo(0, 0); document.activeElement.blur()")
        tab_to(view)
        page.keyboard.press("Enter")
        expect(page.locator(check).first).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"{view} is {width} px wide at 400 px"

    # From the requests table to a replay, by keyboard.
    page.evaluate("document.activeElement.blur()")
    tab_to("Requests")
    page.keyboard.press("Enter")
    first = page.locator("#request-results tbody tr a").first
    expect(first).to_be_visible()
    tab_to(first.inner_text())
    page.keyboard.press("Enter")
    expect(page.locator("#replay-timeline .step").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 400


def test_no_request_leaves_loopback_even_when_the_page_asks(
    page: Any, gateway: LiveGateway, recorded: Recorded
) -> None:
    login(page, gateway)
    expect(page.locator("#overview-charts figure")).to_have_count(4)
    # The page's own policy (CSP connect-src 'self') already refuses other hosts.
    refused = page.evaluate(
        "fetch('http://example.invalid/x').then(() => 'sent', e => 'refused: ' + e.name)"
    )
    assert refused.startswith("refused")
    assert all("example.invalid" not in url for url, _ in recorded.requests)


def test_an_auditor_key_sees_requests_tail_and_chain_only(page: Any, gateway: LiveGateway) -> None:
    created = httpx.post(
        gateway.url("/admin/keys"),
        headers=gateway.headers(),
        json={"name": "auditor-in-browser", "auditor": True},
        timeout=30,
    ).json()
    page.goto(gateway.url("/console#overview"))
    page.get_by_label("Admin key").fill(created["key"])
    page.get_by_role("button", name="Open the console").click()
    nav = page.locator("#nav a:visible")
    expect(nav).to_have_text(["Requests", "Live tail", "Chain"])
    expect(page).to_have_url(re.compile("#overview$"))  # asked for, but not theirs: requests
    expect(page.locator("#request-results tbody tr").first).to_be_visible()
    page.locator("#request-results tbody tr a").first.click()
    expect(page.locator("#audit-state")).to_have_text(
        "The audit bundle verifies (checked in this browser)."
    )
    expect(page.locator("#status")).not_to_contain_text("Error")


def test_a_tampered_audit_bundle_does_not_verify(page: Any, gateway: LiveGateway) -> None:
    (row,) = [r for r in _requests(gateway) if r["model"] == "gpt-4o-mini"][-1:]

    def tamper(route: Any) -> None:
        bundle = route.fetch().json()
        bundle["events"][0]["data"]["model"] = "gpt-4o"  # one edited field
        route.fulfill(json=bundle)

    page.route("**/audit/requests/*/bundle", tamper)
    login(page, gateway, f"requests/{row['request_id']}")
    expect(page.locator("#audit-state")).to_have_text("The audit bundle does NOT verify.")
    audit = page.locator("#replay-audit")
    events = len(gateway.call(gateway.services.store.read_stream, f"request:{row['request_id']}"))
    expect(audit.locator(".check-fail").first).to_have_text(
        f"Event hashes: {events - 1} of {events} events hash to their content"
    )
    expect(audit).to_contain_text("hash does not match its content")
    expect(audit.locator(".check").nth(1)).to_have_class(re.compile("check-ok"))  # signature
