"""The dashboard in a real browser: Playwright drives Debian's chromium (installed by
``.ci/run``) against the real server. Each page is checked with axe-core (vendored in
axe-playwright-python) for serious accessibility violations; screenshots are saved under
``artifacts/screenshots/`` (``SEGMINT_ARTIFACTS`` moves it) for CI to keep."""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from .test_drift import _baseline_weeks, _events

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a test dependency")
axe_api = pytest.importorskip("axe_playwright_python.sync_playwright")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's chromium is not installed (`.ci/run` installs it: apt-get install chromium)",
        allow_module_level=True,
    )

ARTIFACTS = Path(os.environ.get("SEGMINT_ARTIFACTS", Path(__file__).parents[2] / "artifacts"))
SHOTS = ARTIFACTS / "screenshots"
# the flags a root process on a closed network needs (no sandbox, no calls home)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def site(dashboard_server):
    return dashboard_server


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    try:
        yield pg
    finally:
        context.close()


def sign_in(page, site, key: str) -> None:
    page.goto(site.url + "/")
    assert page.url.endswith("/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site.url + "/")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def accessible(page) -> None:
    """No serious or critical axe-core violation on the page as it stands."""
    results = axe_api.Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} -> "
        + "; ".join(n["target"][0] for n in v["nodes"][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{page.url}: " + " | ".join(bad)


def test_sign_in(page, site):
    page.goto(site.url + "/")
    page.wait_for_url("**/login")
    accessible(page)
    page.get_by_label("API key").fill("sgm_wrong_key")
    page.get_by_role("button", name="Sign in").click()
    assert "Sign-in refused" in page.get_by_role("alert").inner_text()
    page.get_by_label("API key").fill(site.keys.read)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site.url + "/")
    assert "segments across" in page.get_by_role("heading", level=1).inner_text()
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["segmint_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert page.locator("#segment-table tbody tr").count() >= 2
    accessible(page)
    shot(page, "overview")


def test_segment_then_micro_segment(page, site):
    sign_in(page, site, site.keys.read)
    first = page.locator("#segment-table tbody tr th a").first
    name = first.inner_text().strip()
    first.click()
    page.wait_for_url("**/segments/*")
    assert name in page.get_by_role("heading", level=1).inner_text()
    assert page.locator("#members tbody tr").count() > 0
    # sort by spend: the column says so and the values fall
    page.get_by_role("link", name=re.compile("^Spend so far")).click()
    page.wait_for_url("**sort=spend**")
    assert page.locator("th[aria-sort]").text_content().strip().startswith("Spend so far")
    accessible(page)
    shot(page, "segment")
    micro = page.locator("section[aria-labelledby=micro-h] tbody tr th a").first
    micro_name = micro.inner_text().strip()
    micro.click()
    page.wait_for_url("**/micro/*")
    heading = page.get_by_role("heading", level=1).inner_text()
    assert micro_name in heading
    assert "taste found across all customers" in page.locator("p.lead").first.inner_text()
    assert page.locator("#members tbody tr").count() > 0
    accessible(page)
    shot(page, "micro-segment")


def _customer_with_history(site) -> str:
    import duckdb

    con = duckdb.connect(str(site.template / "segmint.duckdb"), read_only=True)
    try:
        return con.execute(
            """SELECT customer_id FROM transactions GROUP BY customer_id
               ORDER BY count(DISTINCT order_id) DESC, customer_id LIMIT 1"""
        ).fetchall()[0][0]
    finally:
        con.close()


def _lapsed_customer(site) -> str:
    """A one-order customer who bought longest ago: new orders move them furthest."""
    import duckdb

    con = duckdb.connect(str(site.template / "segmint.duckdb"), read_only=True)
    try:
        return con.execute(
            """SELECT customer_id FROM transactions GROUP BY customer_id
               HAVING count(DISTINCT order_id) = 1 ORDER BY max(ts), customer_id LIMIT 1"""
        ).fetchall()[0][0]
    finally:
        con.close()


def open_customer(page, customer_id: str) -> None:
    page.get_by_role("link", name="Customers", exact=True).click()
    page.get_by_label("Customer id (or part of it)").fill(customer_id)
    page.get_by_role("button", name="Search").click()
    page.locator("#results").get_by_role("link", name=customer_id, exact=True).click()
    page.wait_for_url("**/customers/*")


def test_search_a_customer_and_open_their_timeline(page, site):
    sign_in(page, site, site.keys.read)
    customer = _customer_with_history(site)
    open_customer(page, customer)
    assert customer not in page.url  # nothing personal in URLs
    assert customer in page.get_by_role("heading", level=1).inner_text()
    orders = page.locator("#timeline li.t-order")
    assert orders.count() >= 2
    assert page.locator("#customer-segment").inner_text().strip()
    assert page.locator("section[aria-labelledby=hist-h] tbody tr").count() == 2  # two runs
    reasons = page.locator("ul.reasons li").all_inner_texts()
    assert reasons and all(len(r) > 3 for r in reasons)  # whole reasons, not characters
    accessible(page)
    shot(page, "customer")


def test_live_segment_change_and_alert_without_reload(page, site):
    """Events posted through the API move the open customer's segment and raise an alert;
    the page shows both without being reloaded."""
    api = httpx.Client(base_url=site.url, timeout=60)
    sign_in(page, site, site.keys.read)
    customer = _lapsed_customer(site)
    open_customer(page, customer)
    page.evaluate("window.__notReloaded = true")
    before = page.locator("#customer-segment").inner_text().strip()
    weeks, last_week = _baseline_weeks(site.template)
    week = last_week + timedelta(days=7)
    moved_to = None
    # the lapsed customer comes back: an order a day, ever bigger, until their segment changes
    for k in range(1, 30):
        event = {
            "event_id": uuid.uuid4().hex,
            "customer_id": customer,
            "ts": (last_week + timedelta(days=k)).isoformat() + "Z",
            "type": "purchase",
            "properties": {"amount": 60.0 * k, "category": "home"},
        }
        r = api.post("/v1/events", json={"events": [event]}, headers=site.keys.h("ingest"))
        assert r.status_code == 200, r.text
        now = r.json()["customers"][0]
        if now["segment"] != before:
            moved_to = now["segment"]
            break
    assert moved_to, "no purchase moved the customer to another segment"
    segment = page.locator("#customer-segment")
    sync_api.expect(segment).to_have_text(moved_to, timeout=15_000)
    assert page.locator("#segment-change").is_visible()
    # the alerts page, open beside it, gets its new rows live too
    alerts_page = page.context.new_page()
    alerts_page.goto(site.url + "/alerts")
    # the shift planted below must arrive live, without a reload (the comeback above is one
    # customer's orders: change detection does not take it for a segment's shift)
    assert "christmas" not in alerts_page.locator("#alerts").inner_text()
    # six ordinary weeks, then three in which everybody buys christmas items: an alert
    for k in range(6):
        body = {"events": _events(weeks[k % len(weeks)], week, f"st{k}")}
        assert api.post("/v1/events", json=body, headers=site.keys.h("ingest")).is_success
        week += timedelta(days=7)
    for k in range(3):
        body = {"events": _events(weeks[k], week, f"shift{k}", category="christmas")}
        assert api.post("/v1/events", json=body, headers=site.keys.h("ingest")).is_success
        week += timedelta(days=7)
    api.post(
        "/v1/events",
        json={"events": _events(weeks[0][:1], week, "close")},
        headers=site.keys.h("ingest"),
    )
    alert = page.locator("#live-alerts li").first
    sync_api.expect(alert).to_be_visible(timeout=20_000)
    # read before asking the API: the locator is read again each time, and a newer alert
    # arriving in between would be the first row but not among the alerts fetched before it
    shown = alert.inner_text().strip()
    stored = api.get("/v1/alerts", headers=site.keys.h("read")).json()["alerts"]
    assert shown in {a["message"] for a in stored}
    assert any("christmas" in a["message"] for a in stored)
    sync_api.expect(alerts_page.locator("#alerts tbody")).to_contain_text(
        "christmas", timeout=10_000
    )
    assert page.evaluate("window.__notReloaded === true")
    shot(page, "live-update")


def test_compare_two_runs(page, site):
    sign_in(page, site, site.keys.read)
    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_label("Compare run").select_option("1")
    page.get_by_label("with run").select_option("2")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/runs/compare?a=1&b=2")
    chart = page.locator("#flow svg")
    assert chart.is_visible()
    assert chart.locator("path").count() >= 2  # bands between the two runs' segments
    assert page.locator("#moves tbody tr").count() >= 2
    accessible(page)
    shot(page, "compare-runs")


def test_export_refused_for_a_read_key(page, site, browser):
    sign_in(page, site, site.keys.read)
    page.goto(site.url + "/segments/0")
    assert page.get_by_role("button", name="Export").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    # the form is not there, and the server refuses the request anyway
    r = page.request.post(site.url + "/segments/0/export", form={"csrf": csrf, "purpose": "email"})
    assert r.status == 403 and "admin" in r.text()
    # an admin gets the button and a CSV of the consented members
    admin = browser.new_context(accept_downloads=True)
    try:
        pg = admin.new_page()
        sign_in(pg, site, site.keys.admin)
        pg.goto(site.url + "/segments/0")
        with pg.expect_download() as download:
            pg.get_by_role("button", name="Export").click()
        path = download.value.path()
        lines = Path(path).read_text().splitlines()
        assert lines[0].startswith("customer_id,") and len(lines) > 1
        accessible(pg)
        shot(pg, "segment-admin")
        pg.goto(site.url + "/consent")
        assert pg.get_by_role("button", name="Erase").count() == 1
        pg.get_by_role("button", name="Verify the ledger now").click()
        time.sleep(0.2)
        accessible(pg)
    finally:
        admin.close()
