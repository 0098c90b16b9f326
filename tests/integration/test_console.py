"""The console (gateway/web/) through Flask's test client on a real database: sign-in and its
cookie, CSRF on every form, tenant scoping, escaping, filters and the cursor, the order page with
its signature checks and exact bytes, the confirmed cancel, the auditor's evidence, the operator's
pages. The same pages in a real browser: tests/browser/test_console_browser.py."""
import hashlib
import json
import re
import zipfile
from io import BytesIO

import pytest

from gateway.api import create_app
from gateway.service import audit as audit_service
from tests.helpers import START, add_tenant, fixture_json, fixture_text, make_gateway, submit_sent_anyway

OPERATOR_KEY = "gwo_operator-key-for-the-console-tests"
HTTPS = "https://localhost"


@pytest.fixture
def env(tmp_path, sqlite_url, signing_key):
    gw, sandbox = make_gateway(tmp_path, sqlite_url, signing_key)
    app = create_app(gw, {"TESTING": True,
                          "GATEWAY_OPERATOR_KEY_SHA256": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()})
    a_id, a_key = add_tenant(gw, "Tenant A")
    b_id, b_key = add_tenant(gw, "Tenant B", cop_code="4601980XYZ")
    return gw, app, (a_id, a_key), (b_id, b_key)


def client_for(app, key):
    client = app.test_client()
    page = client.get("/console/login", base_url=HTTPS)
    token = csrf(page)
    r = client.post("/console/login", data={"key": key, "csrf_token": token}, base_url=HTTPS)
    assert r.status_code == 302, r.get_data(as_text=True)
    return client


def csrf(response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def get(client, path):
    return client.get(path, base_url=HTTPS)


def test_sign_in_sets_a_secure_httponly_samesite_cookie_and_unknown_keys_are_refused(env):
    gw, app, (a_id, a_key), _ = env
    client = app.test_client()
    token = csrf(client.get("/console/login", base_url=HTTPS))
    r = client.post("/console/login", data={"key": "gw_not-a-key", "csrf_token": token}, base_url=HTTPS)
    assert r.status_code == 401 and "unknown or revoked key" in r.get_data(as_text=True)
    r = client.post("/console/login", data={"key": a_key, "csrf_token": token}, base_url=HTTPS)
    cookie = r.headers["Set-Cookie"]
    assert r.status_code == 302 and "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert a_key not in cookie                       # the key never travels in the cookie
    assert get(client, "/console/orders").status_code == 200
    assert app.test_client().get("/console/orders", base_url=HTTPS).status_code == 302   # no session: sign in


def test_a_form_without_its_csrf_token_is_refused(env):
    gw, app, (a_id, a_key), _ = env
    client = app.test_client()
    r = client.post("/console/login", data={"key": a_key}, base_url=HTTPS)
    assert r.status_code == 400 and "security token" in r.get_data(as_text=True)
    client = client_for(app, a_key)
    order_id = gw.submit(a_id, fixture_text("1210-single-line.json")).order_id
    gw.dispatcher.run_until_idle()
    r = client.post(f"/console/orders/{order_id}/cancel", data={"reason": "x", "csrf_token": "forged"}, base_url=HTTPS)
    assert r.status_code == 400
    assert gw.order(a_id, order_id)["status"] == "released"          # nothing filed


def test_a_tenant_never_sees_another_tenants_orders(env):
    gw, app, (a_id, a_key), (b_id, b_key) = env
    order_id = gw.submit(a_id, fixture_text("1210-single-line.json")).order_id
    gw.dispatcher.run_until_idle()
    with gw.uow_factory() as uow:
        filing_id = uow.filings.for_order(a_id, order_id)[0].id
    b = client_for(app, b_key)
    listing = get(b, "/console/orders").get_data(as_text=True)
    assert fixture_json("1210-single-line.json")["order_no"] not in listing and "No orders match" in listing
    assert get(b, f"/console/orders/{order_id}").status_code == 404
    assert get(b, f"/console/filings/{filing_id}/xml").status_code == 404
    assert get(b, f"/console/orders/{order_id}/cancel").status_code == 404
    a = client_for(app, a_key)
    assert get(a, f"/console/orders/{order_id}").status_code == 200


def test_an_order_number_with_markup_is_shown_as_text(env):
    gw, app, (a_id, a_key), _ = env
    data = fixture_json("1210-single-line.json")
    data["order_no"] = "<script>alert(1)</script>"
    order_id = gw.submit(a_id, json.dumps(data, ensure_ascii=False)).order_id
    a = client_for(app, a_key)
    for page in (get(a, "/console/orders"), get(a, f"/console/orders/{order_id}")):
        text = page.get_data(as_text=True)
        assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_filters_search_counts_and_the_cursor(env):
    gw, app, (a_id, a_key), _ = env
    ids = {}
    for name in ("1210-single-line.json", "9610-minimal.json", "9610-over-single-limit.json", "1210-six-lines.json"):
        ids[name] = submit_sent_anyway(gw, a_id, fixture_text(name)).order_id   # the held one released
    gw.dispatcher.run_until_idle()
    a = client_for(app, a_key)
    text = get(a, "/console/orders?status=rejected").get_data(as_text=True)
    rejected_no = fixture_json("9610-over-single-limit.json")["order_no"]
    assert rejected_no in text and fixture_json("9610-minimal.json")["order_no"] not in text
    assert re.search(r"refused <b>1</b>", text) and re.search(r"released <b>3</b>", text)
    text = get(a, "/console/orders?regime=9610&agency=customs&agency_state=rejected").get_data(as_text=True)
    assert rejected_no in text and fixture_json("1210-single-line.json")["order_no"] not in text
    waybill = fixture_json("9610-minimal.json")["logistics"]["waybill_no"]
    text = get(a, f"/console/orders?q={waybill}").get_data(as_text=True)
    assert fixture_json("9610-minimal.json")["order_no"] in text and rejected_no not in text
    r = get(a, "/console/orders?regime=1111&from=yesterday")
    assert r.status_code == 400 and "regime: one of" in r.get_data(as_text=True)
    r = get(a, "/console/orders?from=yesterday")
    assert r.status_code == 400 and "from: a date" in r.get_data(as_text=True)
    day = START.date().isoformat()              # "to" is inclusive: the whole China day
    assert rejected_no in get(a, f"/console/orders?from={day}&to={day}").get_data(as_text=True)
    # the console lists through the API's search (service/order_search.py): its cursor, its pages
    from gateway.web import orders as console_orders
    assert console_orders.PAGE_SIZE == 50
    seen, url = [], "/console/orders?regime=9610"
    monkey = pytest.MonkeyPatch()
    monkey.setattr(console_orders, "PAGE_SIZE", 1)
    try:
        for _ in range(4):
            text = get(a, url).get_data(as_text=True)
            seen += re.findall(r'href="/console/orders/([^"/?]+)"', text)
            more = re.search(r'href="(/console/orders\?[^"]*cursor=[^"]+)">Next page', text)
            if more is None:
                break
            url = more.group(1).replace("&amp;", "&")
    finally:
        monkey.undo()
    nine_six_ten = {ids["9610-minimal.json"], ids["9610-over-single-limit.json"]}
    assert sorted(seen) == sorted(nine_six_ten)
    r = get(a, f"{url.replace('regime=9610', 'regime=1210')}")       # a cursor with other filters
    assert r.status_code == 400 and "cursor:" in r.get_data(as_text=True)
    assert get(a, "/console/orders?cursor=%%%").status_code == 400


def test_the_order_page_shows_the_board_signatures_reasons_and_the_exact_bytes(env):
    gw, app, (a_id, a_key), _ = env
    order_id = submit_sent_anyway(gw, a_id, fixture_text("9610-over-single-limit.json")).order_id
    gw.dispatcher.run_until_idle()
    a = client_for(app, a_key)
    text = get(a, f"/console/orders/{order_id}").get_data(as_text=True)
    assert "refused" in text and "-621005" in text and "单笔限额" in text
    for agency in ("customs", "inspection", "tax", "fx"):
        assert f'id="agency-{agency}"' in text
    assert text.count("signature verifies") >= 4 and "signature does not verify" not in text
    assert "&lt;ceb:CEB621Message" in text               # the readable XML, escaped
    with gw.uow_factory() as uow:
        f = next(f for f in uow.filings.for_order(a_id, order_id) if f.message_type == "CEB621Message")
        fid, exact = f.id, bytes(f.signed_bytes)
    r = get(a, f"/console/filings/{fid}/xml")
    assert r.data == exact and "attachment" in r.headers["Content-Disposition"]


def test_cancel_asks_for_confirmation_then_files_the_cancellation(env):
    gw, app, (a_id, a_key), _ = env
    order_id = gw.submit(a_id, fixture_text("1210-single-line.json")).order_id
    gw.dispatcher.run_until_idle()
    a = client_for(app, a_key)
    page = get(a, f"/console/orders/{order_id}/cancel")
    assert "Yes, cancel it" in page.get_data(as_text=True)
    r = a.post(f"/console/orders/{order_id}/cancel", data={"reason": "", "csrf_token": csrf(page)}, base_url=HTTPS)
    assert r.status_code == 422 and "reason" in r.get_data(as_text=True)
    r = a.post(f"/console/orders/{order_id}/cancel", data={"reason": "buyer cancelled", "csrf_token": csrf(page)},
               base_url=HTTPS)
    assert r.status_code == 302
    gw.dispatcher.run_until_idle()
    assert gw.order(a_id, order_id)["status"] == "cancelled"
    assert "CEB623Message" in get(a, f"/console/orders/{order_id}").get_data(as_text=True)


def test_the_auditor_reads_the_evidence_and_downloads_the_bundle_and_every_read_is_recorded(env):
    gw, app, (a_id, a_key), (b_id, b_key) = env
    order_id = gw.submit(a_id, fixture_text("1210-single-line.json")).order_id
    other = gw.submit(b_id, fixture_text("9610-minimal.json")).order_id
    gw.dispatcher.run_until_idle()
    with gw.uow_factory() as uow:
        _, auditor_key = audit_service.create_auditor(uow, "Audit & Co", [a_id])
        uow.commit()
    au = client_for(app, auditor_key)
    text = get(au, f"/console/evidence/{order_id}").get_data(as_text=True)
    assert "audit chain" in text and "signature verifies" in text and "order.received" in text
    r = get(au, f"/console/evidence/{order_id}/bundle")
    assert r.status_code == 200 and zipfile.ZipFile(BytesIO(r.data)).namelist()
    assert get(au, f"/console/evidence/{other}").status_code == 404            # not granted
    assert get(au, f"/console/orders/{order_id}/cancel").status_code == 403    # read-only
    with gw.uow_factory() as uow:
        reads = [e for e in uow.audit.for_subject("auditor", au_id(gw)) if e.action == "auditor.read"]
    assert len(reads) >= 2


def au_id(gw):
    from sqlalchemy import select

    from gateway.store import models as m
    with gw.uow_factory() as uow:
        return uow.session.scalar(select(m.Auditor.id))


def test_the_operator_sees_the_dispatcher_quarantine_and_keys_but_no_orders(env):
    gw, app, (a_id, a_key), _ = env
    op = client_for(app, OPERATOR_KEY)
    assert "Circuit breakers" in get(op, "/console/dispatch").get_data(as_text=True)
    assert "Receipts in quarantine" in get(op, "/console/quarantine").get_data(as_text=True)
    assert "days left" in get(op, "/console/keys").get_data(as_text=True)
    assert get(op, "/console/orders").status_code == 403
    a = client_for(app, a_key)
    assert get(a, "/console/dispatch").status_code == 403


def test_the_console_secret_is_made_once_per_instance_and_cookies_are_secure_by_default(env, tmp_path):
    gw, app, _, _ = env
    from gateway.config import ConfigError, Settings
    assert Settings().console_secure_cookies is True and app.config["SESSION_COOKIE_SECURE"] is True
    secret = (gw.settings.instance_dir / "console-secret").read_text().strip()
    assert app.secret_key == secret and len(secret) >= 32
    assert Settings.from_env({"GATEWAY_CONSOLE_SECURE_COOKIES": "false"}).console_secure_cookies is False
    with pytest.raises(ConfigError, match="GATEWAY_CONSOLE_SECRET: must be at least 32 characters"):
        Settings.from_env({"GATEWAY_CONSOLE_SECRET": "short"})


def test_the_bulk_page_files_in_the_background_shows_progress_and_gives_the_result_sheet(env):
    gw, app, (a_id, a_key), (b_id, b_key) = env
    from openpyxl import load_workbook

    from gateway.service import bulk_jobs
    from gateway.service.bulk_files import write_template
    a = client_for(app, a_key)
    page = get(a, "/console/bulk")
    token = csrf(page)
    r = a.post("/console/bulk", data={"csrf_token": token, "file": (BytesIO(b"x"), "orders.exe")}, base_url=HTTPS)
    assert r.status_code == 422 and "is not a .xlsx, .csv, .json or .jsonl file" in r.get_data(as_text=True)
    r = a.post("/console/bulk", data={"file": (BytesIO(b"a,b"), "orders.csv")}, base_url=HTTPS)
    assert r.status_code == 400                                                   # no CSRF token
    good, bad = fixture_json("1210-single-line.json"), fixture_json("1210-single-line.json")
    bad["order_no"], bad["lines"][0]["unit_price"] = "BULK-BAD-1", "-1"
    sheet = BytesIO()
    write_template("cbec-import", "xlsx", sheet, orders=[good, bad])
    r = a.post("/console/bulk", data={"csrf_token": token, "file": (BytesIO(sheet.getvalue()), "mixed.xlsx")},
               base_url=HTTPS)
    assert r.status_code == 303
    job_url = r.headers["Location"]
    job_id = job_url.rstrip("/").rsplit("/", 1)[-1]
    bulk_jobs.wait(job_id, 120)
    text = get(a, job_url).get_data(as_text=True)
    assert 'data-state="done"' in text and 'http-equiv="refresh"' not in text
    assert "accepted 1 · existing 0 · refused 1" in text and "unit_price" in text
    result = a.get(f"{job_url}/result", base_url=HTTPS)
    assert result.status_code == 200 and "mixed-result.xlsx" in result.headers["Content-Disposition"]
    ws = load_workbook(BytesIO(result.data), read_only=True).active
    rows = [list(row) for row in ws.iter_rows(values_only=True)]
    assert rows[0][-3:] == ["status", "order_id", "problems"]
    assert [row[-3] for row in rows[1:]] == ["accepted", "refused"] and "unit_price" in rows[2][-1]
    # while filing: the bar and the page reloading itself (the state as another process would read it)
    folder = gw.settings.instance_dir / "bulk" / a_id / job_id
    (folder / "progress.json").write_text(json.dumps({"state": "running", "filename": "mixed.xlsx", "kind": "xlsx",
                                                      "done": 50, "total": 200, "error": None, "problems": []}))
    text = get(a, job_url).get_data(as_text=True)
    assert '<progress id="bar" max="200" value="50">' in text and "50 of 200 rows filed (25%)" in text
    assert '<meta http-equiv="refresh" content="1">' in text
    assert a.get(f"{job_url}/result", base_url=HTTPS).status_code == 404          # not while running
    # another tenant's upload is not found; nor is a path of the caller's making
    b = client_for(app, b_key)
    assert b.get(job_url, base_url=HTTPS).status_code == 404
    assert b.get(f"{job_url}/result", base_url=HTTPS).status_code == 404
    assert a.get("/console/bulk/..%2F..%2Fkeys", base_url=HTTPS).status_code == 404
    # a file whose header row is not usable: the page says why, nothing filed
    r = a.post("/console/bulk", data={"csrf_token": token, "file": (BytesIO(b"a,b\n1,2\n"), "orders.csv")},
               base_url=HTTPS)
    bulk_jobs.wait(r.headers["Location"].rsplit("/", 1)[-1], 60)
    text = get(a, r.headers["Location"]).get_data(as_text=True)
    assert 'data-state="failed"' in text and "header row" in text

def test_the_operator_releases_a_held_order_with_a_reason_and_a_tenant_cannot(env):
    gw, app, (a_id, a_key), (b_id, _) = env
    order_id = gw.submit(a_id, fixture_text("9610-over-single-limit.json")).order_id
    assert gw.order(a_id, order_id)["status"] == "held"
    op = client_for(app, OPERATOR_KEY)
    page = get(op, "/console/held")
    text = page.get_data(as_text=True)
    assert "cbec-single-limit" in text and "Tenant A" in text and "Release" in text
    release = f"/console/held/{a_id}/{order_id}/release"
    r = op.post(release, data={"reason": "", "csrf_token": csrf(page)}, base_url=HTTPS)
    assert r.status_code == 302 and "release-reason" in get(op, "/console/held").get_data(as_text=True)
    assert gw.order(a_id, order_id)["status"] == "held"                    # no reason: nothing sent
    r = op.post(f"/console/held/{b_id}/{order_id}/release", data={"reason": "x", "csrf_token": csrf(page)},
                base_url=HTTPS)                                                # another tenant's id: not found
    assert "not released" in get(op, "/console/held").get_data(as_text=True)
    r = op.post(release, data={"reason": "the buyer splits it later", "csrf_token": csrf(page)}, base_url=HTTPS)
    assert r.status_code == 302
    assert gw.order(a_id, order_id)["status"] != "held"
    assert "No order is held" in get(op, "/console/held").get_data(as_text=True)
    a = client_for(app, a_key)                      # a tenant, with its own valid CSRF token: the role refuses
    assert get(a, "/console/held").status_code == 403
    second = gw.submit(a_id, json.dumps(fixture_json("9610-over-single-limit.json") | {"order_no": "HELD-2"},
                                        ensure_ascii=False)).order_id
    token = csrf(get(a, "/console/orders"))
    r = a.post(f"/console/held/{a_id}/{second}/release", data={"reason": "x", "csrf_token": token}, base_url=HTTPS)
    assert r.status_code == 403 and gw.order(a_id, second)["status"] == "held"
