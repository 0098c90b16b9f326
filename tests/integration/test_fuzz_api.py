"""Property-based fuzzing of every endpoint's inputs (hypothesis), through the real app on a real
database: hostile variants of valid orders of every format (any field replaced, removed, added,
duplicated; text XML cannot carry; implausible dates; other encodings and media types), batches
mixing them, correction requests, query parameters, webhooks and payment data.

Properties: no answer is 5xx; every 4xx is problem+json; every 422 names a path and a rule for each
problem; a refusal changes no row in any table.

The example budget is fixed so the module runs in CI in well under two minutes. A longer run:
``GATEWAY_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/integration/test_fuzz_api.py -q -s``
(examples per test; ``GATEWAY_FUZZ_REPORT=path.json`` also writes the request count and status
histogram there). README "Testing" has the numbers of the last long run.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.api import create_app
from gateway.egress import EgressPolicy
from gateway.service import audit as audit_service
from tests.helpers import add_tenant, make_gateway, offline_resolver
from tests.hostile import FORMATS, order, renumbered, row_counts

EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])
STATUSES: Counter = Counter()

SPECIAL = ["", " ", "\u3000", "\x00", "\x01", "\t", "\n", "\r\n", "\x7f", "\x85", "\ud800", "\udfff", "\ufffe",
           "\uffff", "\ufdd0", "\U0010ffff", "😀", "a<b", "' OR '1'='1", "]]>", "&amp;", "<x/>", "398.00\n",
           "-1", "1e999", "0.000001", "99999999999999999999", "NaN", "9999-12-31T23:59:59-05:00",
           "1900-01-01T00:00:00", "1970-01-01T00:00:00Z", "2099-01-01", "2026-02-30", "0000-00-00",
           "4601980ABC", "91440300MA5FXXXX1A", "无", "NO", "x" * 5000]
TEXT = st.one_of(st.sampled_from(SPECIAL), st.text(max_size=40),
                 st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
                         max_size=20),
                 st.builds(lambda a, b: a + b, st.sampled_from(SPECIAL), st.sampled_from(SPECIAL)))
SCALAR = st.one_of(TEXT, st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                   st.floats(allow_nan=True, allow_infinity=True))
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6)


def _paths(data, path=()):
    yield path
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, path + (i,))


@st.composite
def mutated(draw, kind=None):
    """A valid order of some format with one to three hostile changes."""
    kind = kind or draw(st.sampled_from(list(FORMATS)))
    data = renumbered(order(kind), kind, draw(st.sampled_from(["", "F1", "F2", "F3"])))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "string-ops", "append"]))
        if op == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(TEXT)] = draw(VALUE)
        elif op == "append" and isinstance(parent[path[-1]], str):     # often still valid: built and filed
            parent[path[-1]] += draw(st.sampled_from(["中文", "😀", "é", "&<>\"'", "]]>", "\u3000x", "Ω"]))
        elif op == "string-ops" and isinstance(parent[path[-1]], str):
            parent[path[-1]] = draw(st.sampled_from([" {} ", "{}\n", "{}\x00", "\ufeff{}", "{}{}"])).format(
                parent[path[-1]], parent[path[-1]])
        else:
            parent[path[-1]] = draw(VALUE)
    return data


@st.composite
def raw_body(draw, value):
    """JSON text of ``value``, sometimes mangled: another encoding, a repeated key, cut short, garbage."""
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    how = draw(st.sampled_from(["utf-8"] * 6 + ["utf-16", "gbk", "duplicate", "cut", "garbage", "bom"]))
    if how == "duplicate" and text.startswith("{") and len(text) > 2:
        text = '{"order_no": "DUP", ' + text[1:]
    elif how == "cut":
        text = text[: draw(st.integers(0, max(len(text) - 1, 0)))]
    elif how == "garbage":
        text += draw(st.sampled_from(["}", "]", " x", "\x00", ","]))
    if how in ("utf-16", "gbk"):
        return text.encode(how, "surrogatepass" if how == "utf-16" else "replace")
    data = text.encode("utf-8", "surrogatepass")
    return b"\xef\xbb\xbf" + data if how == "bom" else data


@pytest.fixture(scope="module")
def app(tmp_path_factory, signing_key):
    tmp = tmp_path_factory.mktemp("fuzz")
    gw, _ = make_gateway(tmp, f"sqlite:///{tmp / 'fuzz.sqlite3'}", signing_key)
    gw.egress = EgressPolicy(resolver=offline_resolver)      # fuzzed webhook hosts: no DNS query leaves
    gw.dispatcher.webhooks.poster = None                      # and nothing is ever delivered
    tenant, key = add_tenant(gw)
    with gw.uow_factory() as uow:
        _, auditor = audit_service.create_auditor(uow, "Fuzz auditor", [tenant])
        uow.commit()
    client = create_app(gw, {"TESTING": True}).test_client()
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    order_id = client.post("/v1/orders", data=json.dumps(order()).encode(), headers=auth).get_json()["id"]
    yield gw, client, auth, {"Authorization": f"Bearer {auditor}"}, tenant, order_id
    print(f"\nfuzz: {json.dumps(_report())}")


def _report() -> dict:
    """The request count and status histogram so far (also written to GATEWAY_FUZZ_REPORT, every 250
    requests and at the end, so a long run can be read while it runs)."""
    report = {"examples_per_test": EXAMPLES, "requests": sum(n for s, n in STATUSES.items() if isinstance(s, int)),
              "statuses": {str(k): v for k, v in sorted(STATUSES.items(), key=lambda kv: str(kv[0]))},
              "5xx": sum(n for s, n in STATUSES.items() if isinstance(s, int) and s >= 500)}
    if os.environ.get("GATEWAY_FUZZ_REPORT"):
        with open(os.environ["GATEWAY_FUZZ_REPORT"], "w") as f:
            json.dump(report, f, indent=2)
    return report


def check(gw, response, before: dict | None) -> None:
    """The properties every answer keeps."""
    STATUSES[response.status_code] += 1
    if sum(n for s, n in STATUSES.items() if isinstance(s, int)) % 250 == 0:
        _report()
    text = response.get_data(as_text=True)[:400]
    assert response.status_code < 500, text
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", (response.status_code, text)
        body = response.get_json()
        assert body["status"] == response.status_code and body["title"] and "problems" in body, body
        if response.status_code == 422:
            assert body["problems"] and all(p["path"].startswith("$") and p["rule"] for p in body["problems"]), body
    refused = response.status_code >= 400 or (response.status_code == 207 and response.get_json()["accepted"] == 0)
    if before is not None and refused:
        assert row_counts(gw) == before, "a refusal changed the database"


@FUZZ
@given(data=st.data())
def test_single_orders(app, data):
    gw, client, auth, *_ = app
    value = data.draw(mutated())
    body = data.draw(raw_body(value))
    headers = dict(auth)
    if data.draw(st.integers(0, 9)) == 0:
        headers.update(data.draw(st.sampled_from([{"Content-Type": "text/plain"}, {"Content-Encoding": "gzip"},
                                                  {"Content-Type": "application/json; charset=utf-16"}])))
    before = row_counts(gw)
    check(gw, client.post("/v1/orders", data=body, headers=headers), before)


@st.composite
def valid(draw):
    kind = draw(st.sampled_from(list(FORMATS)))
    return renumbered(order(kind), kind, draw(st.sampled_from(["V1", "V2", "V3", "V4", "V5"])))


@FUZZ
@given(items=st.lists(st.one_of(mutated(), VALUE, valid()), min_size=1, max_size=4))
def test_batches(app, items):
    gw, client, auth, *_ = app
    before = row_counts(gw)
    body = json.dumps(items, ensure_ascii=True).encode()
    response = client.post("/v1/orders/batch", data=body, headers=auth)
    check(gw, response, before)
    if response.status_code == 207:
        results = response.get_json()["results"]
        assert [r["index"] for r in results] == list(range(len(items)))
        for r in results:
            STATUSES[f"item {r['status']}"] += 1
            if r["status"] == 422:
                assert r["problems"] and all(p["path"].startswith("$") and p["rule"] for p in r["problems"])


@FUZZ
@given(action=st.sampled_from(["cancel", "return", "modify", "delete"]), body=VALUE, reason=TEXT,
       own=st.booleans(), data=st.data())
def test_corrections(app, action, body, reason, own, data):
    gw, client, auth, _, _, order_id = app
    target = order_id if own else data.draw(st.text(st.characters(min_codepoint=33, max_codepoint=0xD7FF,
                                                                  exclude_characters="/?#%"), min_size=1, max_size=40))
    if action == "modify":
        payload = data.draw(raw_body(data.draw(mutated("cbec-import"))))
        path = f"/v1/orders/{target}/modify"
    else:
        obj = body if data.draw(st.booleans()) else {"reason": reason, "lines": body}
        payload = json.dumps(obj, ensure_ascii=True).encode()
        path = f"/v1/filings/{target}/delete" if action == "delete" else f"/v1/orders/{target}/{action}"
    before = row_counts(gw)
    check(gw, client.post(path, data=payload, headers=auth), before)


@FUZZ
@given(name=st.sampled_from(["limit", "after", "state", "tenant", "from", "to", "subject_id"]), value=TEXT,
       endpoint=st.sampled_from(["/v1/receipts/quarantine", "/v1/audit/events", "/v1/audit/tenants/{t}/orders",
                                 "/v1/webhooks/NOPE/deliveries", "/v1/orders/{o}", "/v1/orders/{o}/history"]))
def test_query_parameters(app, name, value, endpoint):
    gw, client, auth, auditor, tenant, order_id = app
    headers = auditor if "/audit/" in endpoint else {"Authorization": auth["Authorization"]}
    query = {name: value, "tenant": tenant} if name != "tenant" else {name: value}
    raw = "&".join(f"{k}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in query.items())   # any bytes
    response = client.get(f"{endpoint.format(t=tenant, o=order_id)}?{raw}", headers=headers)
    check(gw, response, None)


@FUZZ
@given(body=VALUE, url=st.one_of(TEXT, st.sampled_from(["https://127.0.0.1:9/hook", "http://127.0.0.1/x",
                                                        "ftp://127.0.0.1/", "https://127.0.0.1/\x00"])),
       which=st.sampled_from(["webhook", "payment-raw"]), wrap=st.booleans())
def test_other_bodies(app, body, url, which, wrap):
    gw, client, auth, _, _, order_id = app
    if which == "webhook":
        obj = {"url": url, "description": body} if wrap else body
        path = "/v1/webhooks"
    else:
        obj = {"initalRequest": body, "payTransactionId": url} if wrap else body
        path = f"/v1/orders/{order_id}/payment-raw"
    before = row_counts(gw)
    check(gw, client.post(path, data=json.dumps(obj, ensure_ascii=True).encode(), headers=auth), before)
