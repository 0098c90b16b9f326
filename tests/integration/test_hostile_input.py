"""Every case of issue #10 ("Every input gets an answer") as a regression test, through the real
API on a real database: text XML cannot carry, implausible dates, formats exactly as documented,
bodies (encoding, media type, size), batches with items of any JSON type, query parameters, and
one error format (problem+json) for every 4xx. Each refusal changes no row in any table."""
from __future__ import annotations

import gzip
import http.client
import json
import threading

import pytest
from werkzeug.serving import make_server

from gateway.api import create_app
from gateway.store import models as m
from tests.helpers import ROOT, add_tenant, make_gateway
from tests.hostile import FORMATS, assert_problem, order, row_counts, rules_at


@pytest.fixture
def api(tmp_path, sqlite_url, signing_key):
    gw, _ = make_gateway(tmp_path, sqlite_url, signing_key)
    _, key = add_tenant(gw)
    client = create_app(gw, {"TESTING": True}).test_client()
    return gw, client, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def post(client, headers, data, path="/v1/orders"):
    body = data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=True).encode()
    return client.post(path, data=body, headers=headers)


def refused(api, data, status=422, path="/v1/orders", headers=None) -> dict:
    gw, client, auth = api
    before = row_counts(gw)
    body = assert_problem(post(client, headers or auth, data, path), status)
    assert row_counts(gw) == before
    return body


# ---- 1. text that XML can carry ------------------------------------------------------------------

@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x1f", "\x7f", "\x85", "\ufffe", "\uffff", "\ufdd0",
                                  "\U0001fffe", "\ud800", "\udfff"])
@pytest.mark.parametrize("where", [("consignee", "address"), ("lines", 0, "name"), ("buyer", "name"), ("note",)])
def test_characters_xml_cannot_carry_are_refused_with_path_and_code_point(api, char, where):
    data = order()
    target = data
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = f"abc{char}def"
    path = "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in where)
    body = refused(api, data)
    assert rules_at(body) == {(path, "xml-char")}
    assert f"U+{ord(char):04X}" in body["problems"][0]["message"]


def test_a_lone_surrogate_in_an_otherwise_invalid_order_is_a_422_not_a_crash(api):
    data = order()
    data["buyer"]["name"] = "\ud83d"          # half of an emoji
    data["goods_value"] = 398                 # and a money value as a number
    assert ("$.buyer.name", "xml-char") in rules_at(refused(api, data))


@pytest.mark.parametrize("value", ["a\tb", "a\nb", "a\rb", "AB\n"])
def test_control_characters_are_refused_in_identifiers_and_codes(api, value):
    data = order()
    data["logistics"]["waybill_no"] = value
    assert rules_at(refused(api, data)) == {("$.logistics.waybill_no", "control-char")}


def test_line_breaks_stay_allowed_in_free_text(api):
    gw, client, auth = api
    data = order()
    data["consignee"]["address"] = "上海市浦东新区\n世纪大道 100 号\t3 楼"
    assert post(client, auth, data).status_code == 201


# ---- 2. formats as documented, exactly -----------------------------------------------------------

@pytest.mark.parametrize("field, value, rule", [
    (("goods_value",), "398.00\n", "control-char"),
    (("customs_code",), "5141\n", "control-char"),
    (("order_no",), "HT-1\n", "control-char"),
    (("order_no",), " HT-1", "whitespace"),
    (("order_no",), "HT-1 ", "whitespace"),
    (("buyer", "name"), "   ", "blank"),
    (("buyer", "name"), "\u3000", "blank"),
    (("platform", "code"), "a<b", "schema:pattern"),
    (("platform", "code"), "' OR '1'='1", "schema:pattern"),
    (("platform", "code"), "😀", "schema:pattern"),
    (("platform", "code"), "12345", "schema:pattern"),
    (("guarantor", "code"), "4612260A0K\n", "control-char"),
])
def test_formats_are_matched_on_the_whole_value(api, field, value, rule):
    data = order()
    target = data
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    assert rules_at(refused(api, data)) == {("$." + ".".join(field), rule)}


def test_a_trailing_newline_never_reaches_the_filed_xml(api):
    data = order()
    data["logistics"]["freight"] = "0\n"
    assert ("$.logistics.freight", "control-char") in rules_at(refused(api, data))


@pytest.mark.parametrize("kind, field, value", [
    ("cbec-import", ("ordered_at",), "1900-01-01T00:00:00+08:00"),
    ("cbec-import", ("ordered_at",), "1970-01-01T00:00:00Z"),
    ("cbec-import", ("ordered_at",), "9999-12-31T23:59:59-05:00"),
    ("cbec-import", ("payment", "paid_at"), "2099-01-01T00:00:00+08:00"),
    ("cbec-import", ("payment", "paid_at"), "9999-12-31T23:59:59"),
    ("cbec-export", ("payment", "received_at"), "1900-01-01T00:00:00+08:00"),
    ("general-trade", ("ie_date",), "2099-06-01"),
])
def test_dates_outside_the_plausible_window_are_refused(api, kind, field, value):
    data = order(kind)
    target = data
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    assert rules_at(refused(api, data)) == {("$." + ".".join(field), "date-window")}


def test_the_same_year_in_a_1210_order_is_refused_too(api):
    gw, client, auth = api
    data = json.loads((FORMATS["cbec-import"].parent / "1210-single-line.json").read_text("utf-8"))
    data["payment"]["paid_at"] = "1900-01-01T00:00:00+08:00"
    assert rules_at(refused(api, data)) == {("$.payment.paid_at", "date-window")}


def test_duplicate_keys_are_refused_and_nothing_is_stored(api):
    text = json.dumps(order(), ensure_ascii=False)
    text = text.replace('"buyer": {', '"buyer": {"name": "张三", ', 1)
    assert rules_at(refused(api, text.encode("utf-8"))) == {("$.buyer.name", "duplicate-key")}


# ---- 3. bodies -----------------------------------------------------------------------------------

@pytest.mark.parametrize("encode", [lambda t: t.encode("gbk", "replace"), lambda t: t.encode("utf-16"),
                                    lambda t: t.encode("utf-16-le"), lambda t: t.encode("utf-32")],
                         ids=["gbk", "utf-16", "utf-16-le", "utf-32"])
def test_a_body_that_is_not_utf8_is_422_encoding(api, encode):
    raw = encode(json.dumps(order(), ensure_ascii=False))
    assert rules_at(refused(api, raw)) == {("$", "encoding")}


@pytest.mark.parametrize("headers", [{"Content-Encoding": "gzip"}, {"Content-Type": "text/plain"},
                                     {"Content-Type": "application/x-www-form-urlencoded"},
                                     {"Content-Type": "application/json; charset=latin-1"}])
def test_unsupported_media_types_and_codings_are_415(api, headers):
    gw, client, auth = api
    raw = json.dumps(order()).encode()
    if headers.get("Content-Encoding") == "gzip":
        raw = gzip.compress(raw)
    refused(api, raw, 415, headers={**auth, **headers})


def test_a_body_over_the_limit_is_413_with_content_length(api):
    from gateway.api.bodies import BODY_LIMIT

    refused(api, b"[" + b" " * BODY_LIMIT + b"]", 413)


def test_a_chunked_body_over_the_limit_is_413_and_never_parsed(tmp_path, sqlite_url, signing_key):
    """A real server on 127.0.0.1 and a chunked body without Content-Length."""
    gw, _ = make_gateway(tmp_path, sqlite_url, signing_key)
    _, key = add_tenant(gw)
    limit = 64 * 1024
    server = make_server("127.0.0.1", 0, create_app(gw, {"BODY_LIMIT_BYTES": limit}), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        def send(body: bytes) -> tuple[int, dict]:
            conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
            chunks = (body[i:i + 8192] for i in range(0, len(body), 8192))
            conn.request("POST", "/v1/orders", body=chunks, encode_chunked=True,
                         headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                                  "Transfer-Encoding": "chunked"})
            response = conn.getresponse()
            out = response.status, json.loads(response.read())
            conn.close()
            return out

        valid = json.dumps(order(), ensure_ascii=False).encode()
        status, body = send(valid + b" " * (3 * limit))           # valid JSON, cut at the limit would parse
        assert status == 413 and body["status"] == 413 and str(limit) in body["detail"]
        status, body = send(valid)
        assert status == 201, body
    finally:
        server.shutdown()
        thread.join(5)
    assert row_counts(gw)["orders"] == 1


# ---- 4. batches ----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [5, None, True, False, 1.5, "a string", [], [order()], {}],
                         ids=["5", "null", "true", "false", "1.5", "string", "empty-array", "array", "empty-object"])
def test_a_bad_batch_item_of_any_json_type_never_loses_the_valid_one(api, bad):
    gw, client, auth = api
    r = post(client, auth, [order(), bad], "/v1/orders/batch")
    assert r.status_code == 207, r.get_data(as_text=True)[:300]
    out = r.get_json()
    assert [x["status"] for x in out["results"]] == [201, 422]
    assert out["results"][1]["problems"][0]["path"].startswith("$") and out["results"][1]["problems"][0]["rule"]
    assert row_counts(gw)["orders"] == 1


def test_a_batch_item_with_nul_in_a_name_is_refused_alone(api):
    gw, client, auth = api
    bad = order()
    bad["order_no"] += "-2"
    bad["buyer"]["name"] = "张\x00三"
    out = post(client, auth, [order(), bad], "/v1/orders/batch").get_json()
    assert [x["status"] for x in out["results"]] == [201, 422]
    assert rules_at(out["results"][1]) == {("$.buyer.name", "xml-char")}


def test_a_string_item_is_refused_even_when_it_holds_a_valid_order(api):
    gw, client, auth = api
    out = post(client, auth, [json.dumps(order())], "/v1/orders/batch").get_json()
    assert [x["status"] for x in out["results"]] == [422]
    assert "string" in out["results"][0]["problems"][0]["message"]
    assert row_counts(gw)["orders"] == 0


@pytest.mark.parametrize("body, status", [([], 422), ({}, 422), ("x", 422), ([{}] * 1001, 413)])
def test_a_batch_that_is_not_1_to_1000_orders_is_refused_whole(api, body, status):
    refused(api, body, status, "/v1/orders/batch")


def test_the_documented_batch_fits_the_byte_limit_even_pretty_printed():
    from gateway.api.bodies import BATCH_ITEMS, BODY_LIMIT

    every = [json.loads(p.read_text("utf-8")) for p in ROOT.glob("fixtures/orders/**/valid/*.json")]
    largest = max(every, key=lambda d: len(json.dumps(d, ensure_ascii=False, indent=2)))
    for ascii_only in (False, True):       # UTF-8 as is, or every non-ASCII character escaped
        text = json.dumps([largest] * BATCH_ITEMS, ensure_ascii=ascii_only, indent=2)
        assert len(text.encode("utf-8")) < BODY_LIMIT


# ---- 6. query parameters -------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["limit=²", "limit=-1", "limit=0", "limit=1001", "limit=abc", "limit=1e3",
                                   "limit=99999999999999999999"])
def test_bounded_limit_on_the_quarantine(api, query):
    gw, client, auth = api
    r = client.get(f"/v1/receipts/quarantine?{query}", headers=auth)
    body = assert_problem(r, 400)
    assert rules_at(body) == {("?limit", "query-parameter")}


def test_audit_cursor_and_limit_are_validated(api):
    from gateway.service import audit as audit_service

    gw, client, auth = api
    with gw.uow_factory() as uow:
        tenant = uow.session.query(m.Tenant).one()
        _, key = audit_service.create_auditor(uow, "Audit", [tenant.id])
        uow.commit()
        tenant_id = tenant.id
    headers = {"Authorization": f"Bearer {key}"}
    for query, name in (("cursor=99999999999999999999", "cursor"), ("cursor=-1", "cursor"), ("limit=²", "limit"),
                        ("limit=-1", "limit"), ("limit=5000", "limit")):
        body = assert_problem(client.get(f"/v1/audit/events?tenant={tenant_id}&{query}", headers=headers), 400)
        assert {path for path, _ in rules_at(body)} == {f"?{name}"}, (query, body)
    first = client.get(f"/v1/audit/events?tenant={tenant_id}&limit=1", headers=headers)
    assert first.status_code == 200 and "next" in first.get_json()


@pytest.mark.parametrize("path, body", [
    ("/v1/orders/NO-SUCH/cancel", {"reason": "买家\x00取消"}),
    ("/v1/orders/NO-SUCH/cancel", {"reason": "\ud800"}),
    ("/v1/orders/NO-SUCH/return", {"reason": "退货\x1b", "lines": []}),
    ("/v1/filings/NO-SUCH/delete", {"reason": "\uffff"}),
])
def test_control_characters_in_reasons_are_422(api, path, body):
    assert ("$.reason", "xml-char") in rules_at(refused(api, body, path=path))


# ---- 7. one error format -------------------------------------------------------------------------

def test_every_error_is_problem_json(api):
    gw, client, auth = api
    plain = {"Authorization": auth["Authorization"]}
    assert_problem(client.get("/v1/orders/x"), 401)
    assert_problem(client.get("/v1/dispatch/status", headers=plain), 403)
    assert_problem(client.get("/v1/orders/NO-SUCH", headers=plain), 404)
    assert_problem(client.get("/v1/no-such-endpoint"), 404)
    r = client.delete("/v1/orders", headers=plain)
    assert_problem(r, 405)
    assert {"GET", "POST"} <= set(r.headers["Allow"].replace(" ", "").split(","))
    assert_problem(client.get("/v1/orders?limit=0", headers=plain), 400)
    assert_problem(post(client, auth, order()) and post(client, auth, dict(order(), note="changed")), 409)
    body = assert_problem(post(client, auth, b"{not json"), 422)
    assert body["type"].endswith("/order-invalid") and body["instance"] == "/v1/orders"


def test_plat_data_open_refuses_text_xml_cannot_carry(api):
    gw, client, auth = api
    with gw.uow_factory() as uow:
        tenant_id = uow.session.query(m.Tenant.id).scalar()
    for open_req in ('{"orderNo": "A\\u0000", "sessionID": "S1", "serviceTime": 1}',
                     '{"orderNo": "A1", "sessionID": "\\ud800", "serviceTime": 1}',
                     '{"orderNo": "A\\ud800", "sessionID": "S1", "serviceTime": 1}'):
        r = client.post(f"/ceb179/{tenant_id}/platDataOpen", data={"openReq": open_req})
        assert r.status_code == 400 and r.get_json()["code"] != "10000"


def test_gateway_declare_refuses_a_file_that_is_not_utf8_in_one_line(tmp_path, capsys):
    from gateway import cli

    path = tmp_path / "order.json"
    path.write_bytes(json.dumps(order(), ensure_ascii=False).encode("gbk", "replace"))
    assert cli.main(["declare", str(path), "--out", str(tmp_path / "out"), "--instance", str(tmp_path / "i")]) == 2
    err = capsys.readouterr().err
    assert "[encoding]" in err and "Traceback" not in err
