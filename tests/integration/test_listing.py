"""The one cursor scheme (service/listing.py, api/paging.py): every list endpoint walked to its end
through ``next`` with more items than ``limit``; the order search's filters; cursors refused when
altered, taken to another list, or used with other filters."""
import hashlib
import json

import pytest

from gateway.api import create_app
from gateway.egress import EgressPolicy
from gateway.ports import FixedClock, PostResult
from gateway.service import audit as audit_service
from gateway.service import listing
from gateway.service.listing import BadCursor
from gateway.store import models as m
from tests.helpers import START, add_tenant, fixture_json, make_gateway, offline_resolver

ORDERS = 5
OPERATOR_KEY = "op_" + "l" * 40


@pytest.fixture
def env(tmp_path, db_url, signing_key):
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    # hooks.example.com "resolves" to a public address (a fake resolver: nothing leaves the machine) and
    # the deliveries are answered by a poster in this process
    gw.egress = EgressPolicy(resolver=offline_resolver)
    gw.dispatcher.webhooks.poster = AnsweringPoster()
    app = create_app(gw, {"TESTING": True, "GATEWAY_OPERATOR_KEY_SHA256": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()})
    tenant, key = add_tenant(gw, "Tenant A")
    add_tenant(gw, "Tenant B")
    return gw, app.test_client(), tenant, {"Authorization": f"Bearer {key}"}


class AnsweringPoster:
    def post(self, url, body, headers, timeout):
        return PostResult(204)


def _order(n: int) -> bytes:
    data = fixture_json("1210-single-line.json")
    data["order_no"] = f"LIST-{n:04d}"
    data["logistics"]["waybill_no"] = f"WB{n:010d}"
    data["payment"]["transaction_no"] = f"PAY-LIST-{n:04d}"
    return json.dumps(data, ensure_ascii=False).encode()


def walk(client, url: str, key: str, headers, limit: int = 2) -> list:
    """Every item of a list, page by page; asserts every page but the last is full."""
    items, cursor, pages = [], None, 0
    while True:
        sep = "&" if "?" in url else "?"
        r = client.get(f"{url}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        assert r.status_code == 200, (url, r.get_json())
        body = r.get_json()
        items += body[key]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            return items
        assert len(body[key]) == limit and pages < 100


def test_every_list_endpoint_walks_to_its_end_through_the_cursor(env):
    gw, client, tenant, auth = env
    for n in range(ORDERS):
        assert client.post("/v1/orders", data=_order(n), headers={**auth, "Content-Type": "application/json"}
                           ).status_code == 201
    hooks = [client.post("/v1/webhooks", json={"url": f"https://hooks.example.com/{i}"}, headers=auth).get_json()
             for i in range(3)]
    gw.dispatcher.run_until_idle()          # state changes → webhook deliveries
    with gw.uow_factory() as uow:
        for i in range(3):
            uow.session.add(m.Receipt(tenant_id=tenant, adapter="sandbox", cursor=f"q{i}", raw=b"<x/>" + bytes([i]),
                                      sha256=f"{i:064d}", outcome="quarantined", info="unreadable",
                                      received_at=START))
        auditor, auditor_key = audit_service.create_auditor(uow, "Audit", [tenant] + [t.id for t in
                                                            uow.session.query(m.Tenant).all() if t.id != tenant])
        uow.commit()

    orders = walk(client, "/v1/orders", "orders", auth)
    assert [o["order_no"] for o in orders] == [f"LIST-{n:04d}" for n in reversed(range(ORDERS))]   # newest first
    assert len(walk(client, "/v1/webhooks", "webhooks", auth)) == 3
    deliveries = walk(client, f"/v1/webhooks/{hooks[0]['id']}/deliveries", "deliveries", auth)
    assert len(deliveries) > 2 and len({d["id"] for d in deliveries}) == len(deliveries)
    assert [d["id"] for d in deliveries] == sorted((d["id"] for d in deliveries), reverse=True)
    assert len(walk(client, "/v1/receipts/quarantine", "receipts", auth)) == 3
    assert walk(client, "/v1/keys", "keys", auth) == []   # no key store here: list_page is walked below
    audit = {"Authorization": f"Bearer {auditor_key}"}
    assert len(walk(client, "/v1/audit/tenants", "tenants", audit, limit=1)) == 2
    assert len(walk(client, f"/v1/audit/tenants/{tenant}/orders", "orders", audit)) == ORDERS
    events = walk(client, f"/v1/audit/events?tenant={tenant}", "events", audit, limit=7)
    assert len(events) > 7 and [e["id"] for e in events] == sorted(e["id"] for e in events)

    operator = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    tenants = walk(client, "/v1/operator/tenants", "tenants", operator, limit=1)
    assert len(tenants) == 2 and len({t["id"] for t in tenants}) == 2
    for i in range(2):
        assert client.post(f"/v1/operator/tenants/{tenant}/api-keys", json={"label": f"k{i}"},
                           headers=operator).status_code == 201
    api_keys = walk(client, f"/v1/operator/tenants/{tenant}/api-keys", "api_keys", operator)
    assert sorted(k["label"] for k in api_keys) == ["default", "k0", "k1"]
    assert [(k["created_at"], k["id"]) for k in api_keys] == sorted((k["created_at"], k["id"]) for k in api_keys)
    codes = walk(client, f"/v1/operator/tenants/{tenant}/enterprises", "enterprises", operator)
    assert len(codes) > 2 and [c["code"] for c in codes] == sorted(c["code"] for c in codes)
    page = client.get(f"/v1/operator/tenants/{tenant}/enterprises?limit=1", headers=operator).get_json()
    assert page["own"] == "4601980ABC" and page["tenant_id"] == tenant
    other = tenants[1]["id"] if tenants[0]["id"] == tenant else tenants[0]["id"]
    for bad in (f"/v1/operator/tenants/{other}/api-keys?cursor={page['next']}",      # another list
                f"/v1/operator/tenants/{other}/enterprises?cursor={page['next']}",   # another tenant's
                "/v1/operator/tenants?limit=0", "/v1/operator/tenants?status=x"):
        r = client.get(bad, headers=operator)
        assert r.status_code == 400, (bad, r.get_json())
    assert client.get("/v1/operator/tenants/NOPE/api-keys", headers=operator).status_code == 404


def test_the_order_search_filters_and_refuses_foreign_cursors(env):
    gw, client, tenant, auth = env
    for n in range(ORDERS):
        client.post("/v1/orders", data=_order(n), headers={**auth, "Content-Type": "application/json"})

    def ids(query):
        r = client.get(f"/v1/orders?{query}", headers=auth)
        assert r.status_code == 200, r.get_json()
        return [o["order_no"] for o in r.get_json()["orders"]]

    assert ids("order_no=LIST-0003") == ["LIST-0003"]
    assert ids("waybill=WB0000000002") == ["LIST-0002"]
    assert ids("waybill=WB%25") == []                           # LIKE wildcards are literal
    assert len(ids("q=LIST-000")) == ORDERS and ids("q=WB0000000002") == ["LIST-0002"]   # number start, body text
    assert ids("q=%25") == [] and ids("q=LIST-0001&regime=9610") == []
    assert len(ids("regime=1210&direction=import&status=in_progress")) == ORDERS
    assert ids("status=released") == [] and ids("regime=0110") == []
    assert len(ids("agency=customs&agency_status=pending")) == ORDERS
    assert ids("agency=customs&agency_status=released") == []
    day = START.date().isoformat()
    assert len(ids(f"received_from={day}")) == ORDERS and ids(f"received_to={day}") == []
    every = client.get("/v1/orders", headers=auth).get_json()["orders"]
    second = every[-2]["received_at"].replace("+", "%2B")
    assert len(ids(f"received_from={second}")) == ORDERS - 1 and len(ids(f"received_to={second}")) == 1
    # another tenant sees nothing
    _, other = add_tenant(gw, "Tenant C", cop_code="4601980ABD")
    assert client.get("/v1/orders", headers={"Authorization": f"Bearer {other}"}).get_json() == {"orders": [],
                                                                                                  "next": None}
    first = client.get("/v1/orders?limit=2&regime=1210", headers=auth).get_json()["next"]
    assert client.get(f"/v1/orders?limit=2&regime=1210&cursor={first}", headers=auth).status_code == 200
    for bad in (f"/v1/orders?limit=2&cursor={first}",                          # other filters
                f"/v1/orders?limit=2&regime=1210&cursor={first[:-2]}AA",        # altered
                f"/v1/webhooks?cursor={first}"):                                 # another list
        r = client.get(bad, headers=auth)
        assert r.status_code == 400 and r.get_json()["problems"][0]["path"] == "?cursor", bad


def test_cursors_are_bound_to_their_list_and_filters_and_check_every_byte():
    token = listing.encode("orders", {"status": "released", "regime": None}, ["x", 3])
    assert listing.decode(token, "orders", {"regime": None, "status": "released"}, 2) == ("x", 3)
    with pytest.raises(BadCursor, match="another list"):
        listing.decode(token, "webhooks", {"status": "released"}, 2)
    with pytest.raises(BadCursor, match="other filters"):
        listing.decode(token, "orders", {"status": "rejected"}, 2)
    body, check = token.split(".")
    for altered in (body[:-1] + ("A" if body[-1] != "A" else "B") + "." + check, "x" * 600, "", "a.b", token + "="):
        with pytest.raises(BadCursor):
            listing.decode(altered, "orders", {"status": "released"}, 2)
    with pytest.raises(ValueError):
        listing.check_limit(1001)
    keys = [{"channel": "ceb", "key_name": f"k{i}", "id": str(i)} for i in range(5)]
    seen, cursor = [], None
    while True:     # the in-memory lists (the key store's keys) page the same way
        page = listing.list_page(keys, lambda k: (k["channel"], k["key_name"], k["id"]), kind="keys", filters={},
                                 cursor=cursor, limit=2)
        seen += page.items
        if page.next is None:
            break
        cursor = page.next
    assert seen == keys
    clock = FixedClock(START)
    assert listing.decode(listing.encode("k", {}, [clock.now()]), "k", {}, 1) == (START,)
