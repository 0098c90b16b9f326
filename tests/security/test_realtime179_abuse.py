"""Issue 9, item 6: the 179 platDataOpen call cannot be abused. The tenant comes from the URL (never
a search by order number across tenants); a repeated (order, sessionID) uploads once; calls are
rate-limited per tenant, bounded in size, optionally limited to customs' source addresses; every
call that reaches a tenant is audited exactly once; the old tenant-less URL is retired (410)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from gateway.api import create_app
from gateway.service.realtime179_calls import CallGuard
from gateway.store import models as m
from tests.customs_179 import Customs
from tests.delivery_helpers import line_gateway
from tests.helpers import add_tenant, fixture_text

ORDER_NO = "HT20261120000101"      # the order number of 1210-single-line.json


def raw(mark: str) -> dict:
    return {"initalRequest": f"request of {mark}", "initalResponse": f"response of {mark}", "verDept": "3",
            "payType": "1", "recpAccount": "6222020200012345678", "recpName": f"收款 {mark}",
            "itemLinks": [f"https://{mark}.example.cn/item/1"]}


@pytest.fixture
def setup(tmp_path, signing_key):
    customs = Customs()
    gw, _line, clock = line_gateway(tmp_path, f"sqlite:///{tmp_path}/g.sqlite3", signing_key)
    gw.realtime179.upload_url = customs.url
    client = create_app(gw).test_client()
    tenants = {}
    for mark in ("A", "B"):                       # two tenants, the same order number
        tenant, key = add_tenant(gw, f"Tenant {mark}")
        order = gw.submit(tenant, fixture_text("1210-single-line.json"))
        r = client.post(f"/v1/orders/{order.order_id}/payment-raw", json=raw(mark),
                        headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 201, r.json
        tenants[mark] = tenant
    yield gw, client, clock, customs, tenants
    customs.stop()


def call(client, tenant, session="S1", order_no=ORDER_NO, **kw):
    return client.post(f"/ceb179/{tenant}/platDataOpen",
                       data={"openReq": json.dumps({"orderNo": order_no, "sessionID": session, "serviceTime": 1})}, **kw)


def audit(gw, action) -> list[dict]:
    with gw.uow_factory() as uow:
        return [dict(json.loads(e.detail), tenant=e.tenant_id) for e in uow.session.scalars(
            select(m.AuditEvent).where(m.AuditEvent.action == action).order_by(m.AuditEvent.id))]


def test_the_tenant_comes_from_the_url_even_when_order_numbers_collide(setup):
    gw, client, _clock, customs, tenants = setup
    for mark in ("B", "A"):
        r = call(client, tenants[mark], session=f"S-{mark}")
        assert r.status_code == 200 and r.json["code"] == "10000"
        gw.realtime179.drain()
    heads = [p["payExchangeInfoHead"]["initalRequest"] for p in customs.parsed]
    assert heads == ["request of B", "request of A"]                 # each tenant's own data, no "ambiguous"
    assert [e["tenant"] for e in audit(gw, "realtime179.uploaded")] == [tenants["B"], tenants["A"]]


def test_a_repeated_order_and_session_uploads_once_and_each_call_is_audited_once(setup):
    gw, client, _clock, customs, tenants = setup
    for _ in range(5):
        assert call(client, tenants["A"], session="SAME").json["code"] == "10000"
    gw.realtime179.drain()
    assert len(customs.received) == 1
    calls = audit(gw, "realtime179.called")
    assert [c["outcome"] for c in calls] == ["queued", "duplicate", "duplicate", "duplicate", "duplicate"]
    assert len(audit(gw, "realtime179.uploaded")) == 1
    assert call(client, tenants["A"], session="OTHER").status_code == 200     # a new session is a new upload
    gw.realtime179.drain()
    assert len(customs.received) == 2


def test_calls_are_rate_limited_per_tenant_without_audit_writes(setup):
    gw, client, clock, customs, tenants = setup
    gw.realtime179.guard = CallGuard(clock, per_minute=5)
    answers = [call(client, tenants["A"], session=f"R{i}").status_code for i in range(8)]
    assert answers == [200] * 5 + [429] * 3
    assert call(client, tenants["B"], session="B1").status_code == 200       # another tenant's budget
    assert len(audit(gw, "realtime179.called")) == 6                          # refused calls write nothing
    clock.advance(60)
    assert call(client, tenants["A"], session="R-later").status_code == 200
    gw.realtime179.drain()
    assert len(customs.received) == 7


def test_bodies_are_bounded_and_malformed_calls_do_nothing(setup):
    gw, client, _clock, customs, tenants = setup
    url = f"/ceb179/{tenants['A']}/platDataOpen"
    big = client.post(url, data={"openReq": "x" * 9000})
    assert big.status_code == 413 and big.json["code"] == "20000"
    long_req = json.dumps({"orderNo": ORDER_NO, "sessionID": "S", "pad": "x" * 3000})
    assert client.post(url, data={"openReq": long_req}).status_code == 413
    for bad in ("not json", json.dumps({"orderNo": ORDER_NO}), json.dumps({"orderNo": "x" * 61, "sessionID": "S"}),
                json.dumps({"orderNo": ORDER_NO, "sessionID": "bad session\n"}), json.dumps([1, 2])):
        r = client.post(url, data={"openReq": bad})
        assert r.status_code == 400 and r.json["code"] == "20000", bad
    gw.realtime179.drain()
    assert customs.received == [] and audit(gw, "realtime179.called") == []


def test_the_source_address_allow_list(setup):
    gw, client, clock, customs, tenants = setup
    gw.realtime179.guard = CallGuard(clock, sources=("10.9.0.0/16",))
    refused = call(client, tenants["A"], session="X")                         # the test client is 127.0.0.1
    assert refused.status_code == 403 and refused.json["code"] == "20000"
    allowed = call(client, tenants["A"], session="Y", environ_base={"REMOTE_ADDR": "10.9.1.2"})
    assert allowed.status_code == 200
    gw.realtime179.drain()
    assert len(customs.received) == 1
    assert [c["source"] for c in audit(gw, "realtime179.called")] == ["10.9.1.2"]


def test_unknown_tenants_orders_and_the_old_url(setup):
    gw, client, _clock, customs, tenants = setup
    assert call(client, "00000000-0000-0000-0000-000000000000").status_code == 404
    unknown = call(client, tenants["A"], session="U", order_no="NO-SUCH-ORDER")
    assert unknown.status_code == 200 and unknown.json["code"] == "10000"     # no order-number oracle
    old = client.post("/ceb179/platDataOpen", data={"openReq": json.dumps({"orderNo": ORDER_NO, "sessionID": "O"})})
    assert old.status_code == 410 and "/ceb179/<tenant id>/platDataOpen" in old.json["message"]
    gw.realtime179.drain()
    assert customs.received == []
    assert [c["outcome"] for c in audit(gw, "realtime179.called")] == ["unknown-order"]
