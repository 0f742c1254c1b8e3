"""The dashboard over HTTP on the real server: sign-in, session cookie, CSRF, scopes, consent
on member lists and exports, nothing personal in URLs, every page rendering."""

from __future__ import annotations

import csv
import io
import re

import duckdb
import httpx
import pytest

from .conftest import LiveServer, serve_copy


@pytest.fixture(scope="module")
def dash(dashboard_server):
    return dashboard_server


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(server: LiveServer, token: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=60)
    page = client.get("/login")
    login_token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"login_token": login_token, "key": token})
    assert r.status_code == 303, r.text
    return client


def _query(server: LiveServer, sql: str, params=(), *, live: bool = False) -> list:
    """A query on the workspace the server was copied from (or, ``live``, on its own
    workspace: the server must have stopped)."""
    folder = server.workspace if live else server.template
    con = duckdb.connect(str(folder / "segmint.duckdb"), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_pages_need_a_session_and_sign_in_sets_a_strict_cookie(dash):
    anon = httpx.Client(base_url=dash.url, timeout=60)
    r = anon.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert anon.get("/ui/stream").status_code == 401
    page = anon.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    # a forged sign-in (no login cookie) and wrong keys are refused
    forged = httpx.post(dash.url + "/login", data={"login_token": token, "key": dash.keys.read})
    assert forged.status_code == 403
    for bad in ("sgm_nope_nope", dash.keys.ingest):
        r = anon.post("/login", data={"login_token": token, "key": bad})
        assert r.status_code == 401 and "Sign-in refused" in r.text
    r = anon.post("/login", data={"login_token": token, "key": dash.keys.read})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "segmint_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    # behind a TLS-terminating proxy on this host (uvicorn trusts its X-Forwarded-Proto)
    tls = httpx.Client(base_url=dash.url, timeout=60, headers={"X-Forwarded-Proto": "https"})
    form = tls.get("/login")
    assert "Secure" in form.headers["set-cookie"]
    tls_token = re.search(r'name="login_token" value="([^"]+)"', form.text).group(1)
    tls.cookies.set("segmint_login", tls_token)
    signed = tls.post("/login", data={"login_token": tls_token, "key": dash.keys.read})
    assert signed.status_code == 303 and "; Secure" in signed.headers["set-cookie"]
    assert dash.keys.read not in cookie
    home = anon.get("/")
    assert home.status_code == 200 and "segments across" in home.text
    assert "default-src 'self'" in home.headers["content-security-policy"]


def test_every_page_renders_for_a_read_key(dash):
    c = sign_in(dash, dash.keys.read)
    home = c.get("/")
    segment_links = re.findall(r'href="/segments/(\d+)"', home.text)
    assert segment_links
    seg = c.get(f"/segments/{segment_links[0]}")
    assert seg.status_code == 200 and "Members" in seg.text and "Playbook" in seg.text
    # the micro-segments centred in some segment (each is a taste across the segments)
    pages = (c.get(f"/segments/{s}").text for s in dict.fromkeys(segment_links))
    micro = next(found for page in pages if (found := re.findall(r'href="/micro/(m\d+)"', page)))
    m = c.get(f"/micro/{micro[0]}")
    assert m.status_code == 200 and "a taste found across all customers" in m.text
    assert "Members" in m.text
    for path in (
        "/customers",
        "/runs",
        "/runs/compare?a=1&b=2",
        "/alerts",
        "/campaigns",
        "/consent",
    ):
        r = c.get(path)
        assert r.status_code == 200, (path, r.text[:500])
    compare = c.get("/runs/compare?a=1&b=2").text
    assert "<svg" in compare and "Where customers moved" in compare
    assert "spring-winback" in c.get("/campaigns").text
    assert c.get("/segments/999").status_code == 404
    assert c.get("/runs/compare?a=1&b=77").status_code == 404


def test_no_customer_id_in_any_url_and_handles_are_per_session(dash):
    c = sign_in(dash, dash.keys.read)
    home = c.get("/")
    seg = re.findall(r'href="/segments/(\d+)"', home.text)[0]
    html = c.get(f"/segments/{seg}?sort=spend").text
    ids = {r[0] for r in _query(dash, "SELECT customer_id FROM customers")}
    hrefs = re.findall(r'(?:href|action)="([^"]+)"', html)
    assert hrefs and not [h for h in hrefs for cid in ids if cid in h]
    handle = re.search(r'href="/customers/([^"]+)"', html).group(1)
    page = c.get(f"/customers/{handle}")
    assert page.status_code == 200 and "Timeline" in page.text
    other = sign_in(dash, dash.keys.read)
    assert other.get(f"/customers/{handle}").status_code == 404


def test_forms_need_the_session_csrf_token(dash):
    c = sign_in(dash, dash.keys.read)
    assert c.post("/customers/search", data={"q": "C"}).status_code == 403
    assert c.post("/customers/search", data={"q": "C", "csrf": "x" * 43}).status_code == 403
    token = _csrf(c.get("/customers").text)
    r = c.post("/customers/search", data={"q": "C000001", "csrf": token})
    assert r.status_code == 200 and "match" in r.text
    assert "C000001" in r.text
    assert c.post("/logout", data={}).status_code == 403  # sign-out is a form too


def test_members_sort_page_and_search(dash):
    c = sign_in(dash, dash.keys.read)
    seg = 0
    first = c.get(f"/segments/{seg}?sort=spend&dir=desc").text
    spends = [
        float(x.replace(",", ""))
        for x in re.findall(r'<td class="n">(?:[A-Z]{3}\xa0)?([0-9][0-9,]*\.?[0-9]*)</td>', first)
    ]
    assert spends
    rows = re.findall(r'href="/customers/[^"]+">([^<]+)</a>', first)
    size = _query(
        dash,
        "SELECT count(*) FROM assignments WHERE run_id = (SELECT max(run_id) FROM runs) "
        "AND segment_id = ?",
        [seg],
    )[0][0]
    assert f"{size:,} members" in first or f"{size} members" in first
    assert len(rows) == min(size, 50)
    ordered = _query(
        dash,
        f"""SELECT a.customer_id FROM assignments a JOIN run_features_2 f USING (customer_id)
            WHERE a.run_id = 2 AND a.segment_id = {seg}
            ORDER BY f.monetary DESC NULLS LAST, a.customer_id LIMIT 50""",
    )
    assert rows == [r[0] for r in ordered]
    if size > 50:
        second = c.get(f"/segments/{seg}?sort=spend&dir=desc&page=2").text
        assert re.findall(r'href="/customers/[^"]+">([^<]+)</a>', second)[0] not in rows
    token = _csrf(first)
    c.post(f"/segments/{seg}/search", data={"q": rows[0], "csrf": token})
    found = c.get(f"/segments/{seg}").text
    assert re.findall(r'href="/customers/[^"]+">([^<]+)</a>', found) == [rows[0]]
    assert rows[0] not in str(c.cookies) and "q=" not in found


def test_read_key_sees_no_export_and_is_refused_anyway(dash):
    c = sign_in(dash, dash.keys.read)
    html = c.get("/segments/0").text
    assert "/export" not in html and "Erase" not in c.get("/consent").text
    r = c.post("/segments/0/export", data={"csrf": _csrf(html), "purpose": "email"})
    assert r.status_code == 403 and "admin" in r.text
    r = c.post(
        "/consent/erase", data={"csrf": _csrf(html), "customer_id": "C0000001", "confirm": "erase"}
    )
    assert r.status_code == 403


def test_admin_export_is_consent_filtered_pseudonymised_and_audited(
    dashboard_template, tmp_path_factory
):
    server = serve_copy(dashboard_template, tmp_path_factory.mktemp("export") / "ws")
    keys = server.keys
    members = [
        r[0]
        for r in _query(
            server,
            "SELECT customer_id FROM assignments WHERE run_id = 2 AND segment_id = 0 "
            "ORDER BY customer_id",
        )
    ]
    opted_out = members[:2]
    try:
        # two members withdraw consent to email through the API
        r = httpx.post(
            server.url + "/v1/consent",
            json={
                "changes": [
                    {"customer_id": c, "purpose": "email", "status": "withdrawn"} for c in opted_out
                ]
            },
            headers=keys.h("admin"),
        )
        assert r.status_code == 201, r.text
        reader = sign_in(server, keys.read)
        page = reader.get("/segments/0").text
        refused = reader.post("/segments/0/export", data={"csrf": _csrf(page), "purpose": "email"})
        assert refused.status_code == 403
        c = sign_in(server, keys.admin)
        html = c.get("/segments/0").text
        assert 'action="/segments/0/export"' in html
        r = c.post("/segments/0/export", data={"csrf": _csrf(html), "purpose": "email"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.text)))
        # nobody has moved (no events were sent to this server): the run's members, less two
        assert len(rows) == len(members) - len(opted_out)
        assert not set(members) & {row["customer_id"] for row in rows}  # pseudonyms
        raw = c.post(
            "/segments/0/export",
            data={"csrf": _csrf(html), "purpose": "email", "raw_ids": "on"},
        )
        got = {row["customer_id"] for row in csv.DictReader(io.StringIO(raw.text))}
        assert got == set(members) - set(opted_out)
        assert (
            c.post("/segments/0/export", data={"csrf": _csrf(html), "purpose": "nope"}).status_code
            == 403
        )
        # a member withdraws consent to analytics: left out of the list, counted, and their
        # page (opened from a handle the session already holds) is withheld
        handle, member = re.findall(r'href="/customers/([^"]+)">([^<]+)</a>', html)[0]
        r = httpx.post(
            server.url + "/v1/consent",
            json={
                "changes": [{"customer_id": member, "purpose": "analytics", "status": "withdrawn"}]
            },
            headers=keys.h("admin"),
        )
        assert r.status_code == 201
        after = c.get("/segments/0").text
        assert "1 withheld" in after and f">{member}<" not in after
        assert c.get(f"/customers/{handle}").status_code == 451
        # an admin erases a customer from the consent page: gone from every list at once
        victim = members[-1]
        r = c.post(
            "/consent/erase",
            data={"csrf": _csrf(c.get("/consent").text), "customer_id": victim, "confirm": "erase"},
        )
        assert r.status_code == 200 and "Erased" in r.text
        assert "1 customer erased" in c.get("/consent").text
        found = c.post(
            "/customers/search", data={"q": victim, "csrf": _csrf(c.get("/customers").text)}
        )
        assert found.status_code == 200 and f">{victim}<" not in found.text
    finally:
        server.stop()
    audited = _query(
        server,
        "SELECT rows, purpose, actor FROM audit_log WHERE action = 'export' ORDER BY seq",
        live=True,
    )
    admin_id = keys.admin.split("_")[1]
    assert audited == [(len(rows), "email", f"key:{admin_id}")] * 2  # the refusals left none
    erased = _query(server, "SELECT actor FROM audit_log WHERE action = 'erase'", live=True)
    assert erased == [(f"key:{admin_id}",)]


def test_failed_sign_ins_are_limited_per_address(dashboard_template, tmp_path_factory):
    server = serve_copy(
        dashboard_template, tmp_path_factory.mktemp("limit") / "ws", "--auth-failures", "3"
    )
    keys = server.keys
    try:
        client = httpx.Client(base_url=server.url, timeout=60)
        page = client.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
        codes = []
        for _ in range(5):
            r = client.post("/login", data={"login_token": token, "key": "sgm_x_guess"})
            codes.append(r.status_code)
            token = re.search(r'name="login_token" value="([^"]+)"', r.text).group(1)
            client.cookies.set("segmint_login", token, path="/login")
        assert codes[:3] == [401] * 3 and codes[-1] == 429
        # the right key is refused too while the address is blocked
        r = client.post("/login", data={"login_token": token, "key": keys.read})
        assert r.status_code == 429
    finally:
        server.stop()


def test_revoked_key_ends_its_sessions(dash):
    admin = httpx.Client(base_url=dash.url, timeout=60)
    created = admin.post("/v1/keys", json={"scope": "read"}, headers=dash.keys.h("admin"))
    assert created.status_code in (200, 201), created.text
    body = created.json()
    c = sign_in(dash, body["key"])
    assert c.get("/").status_code == 200
    r = admin.delete(f"/v1/keys/{body['key_id']}", headers=dash.keys.h("admin"))
    assert r.status_code in (200, 204)
    assert c.get("/").status_code == 303
