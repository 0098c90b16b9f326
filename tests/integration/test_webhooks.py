"""Webhooks on real databases (SQLite and PostgreSQL) to a real HTTP server on 127.0.0.1 that checks
every HMAC signature, fails the first requests, and records what arrived."""
from __future__ import annotations

import json
import socket

import pytest
from sqlalchemy import func, select

from gateway.api import create_app
from gateway.domain import status as st
from gateway.service.delivery.backoff import Backoff
from gateway.service.delivery.webhooks import verify_signature
from gateway.service.dispatch import DeliveryPolicy, RoundResult
from gateway.store import models as m
from tests.delivery_helpers import WebhookReceiver, all_final, drive, line_gateway
from tests.helpers import add_tenant, fixture_text


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def pending_deliveries(gw) -> int:
    with gw.uow_factory() as uow:
        return uow.session.scalar(select(func.count()).select_from(m.WebhookDelivery)
                                  .where(m.WebhookDelivery.state == "pending"))


def test_register_list_read_and_delete_webhooks_tenant_by_tenant(tmp_path, db_url, signing_key, receiver):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    a, a_key = add_tenant(gw, "Tenant A")
    b, b_key = add_tenant(gw, "Tenant B")
    client = create_app(gw).test_client()

    created = client.post("/v1/webhooks", json={"url": receiver.url, "description": "erp"}, headers=bearer(a_key))
    assert created.status_code == 201, created.json
    hook = created.json
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 40
    assert hook["url"] == receiver.url and hook["description"] == "erp"

    listed = client.get("/v1/webhooks", headers=bearer(a_key)).json["webhooks"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0] and hook["secret"] not in json.dumps(listed)      # shown once only
    assert client.get(f"/v1/webhooks/{hook['id']}", headers=bearer(a_key)).json["deliveries"]["pending"] == 0

    assert client.get("/v1/webhooks", headers=bearer(b_key)).json["webhooks"] == []
    assert client.get(f"/v1/webhooks/{hook['id']}", headers=bearer(b_key)).status_code == 404
    assert client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=bearer(b_key)).status_code == 404
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=bearer(b_key)).status_code == 404

    for bad in ({"url": "ftp://example.com/x"}, {"url": "http://user:pw@example.com/"}, {"url": ""}, {}):
        response = client.post("/v1/webhooks", json=bad, headers=bearer(a_key))
        assert response.status_code == 422, (bad, response.json)
    assert client.post("/v1/webhooks", data="not json", headers=bearer(a_key)).status_code == 415   # no Content-Type
    assert client.post("/v1/webhooks", data="not json", headers=bearer(a_key),
                       content_type="application/json").status_code == 422
    assert client.post("/v1/webhooks", json={"url": receiver.url}).status_code == 401

    gw.submit(a, fixture_text("1210-single-line.json"))
    gw.dispatcher.send_due(RoundResult())          # events queued for A's webhook, not yet posted
    queued = pending_deliveries(gw)
    assert queued > 0
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=bearer(a_key)).status_code == 204
    assert client.get("/v1/webhooks", headers=bearer(a_key)).json["webhooks"] == []
    assert pending_deliveries(gw) == 0
    log = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=bearer(a_key)).json["deliveries"]
    assert len(log) == queued and {d["state"] for d in log} == {"cancelled"}      # the log stays readable
    drive(gw, clock)
    assert receiver.received == []                 # nothing goes to a deleted webhook


def test_every_state_change_arrives_signed_after_retries_and_the_log_shows_each_attempt(
        tmp_path, db_url, signing_key, receiver):
    policy = DeliveryPolicy(webhook_backoff=Backoff(base=2, factor=2, cap=60))
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key, policy=policy)
    tenant, key = add_tenant(gw)
    client = create_app(gw).test_client()
    hook = client.post("/v1/webhooks", json={"url": receiver.url}, headers=bearer(key)).json
    receiver.secret, receiver.fail_first = hook["secret"], 3
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))

    drive(gw, clock, until=lambda: all_final(gw) and pending_deliveries(gw) == 0)
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    assert receiver.bad_signatures == 0
    accepted = receiver.accepted()
    assert [r.status for r in receiver.received[:3]] == [500, 500, 500]
    for r in accepted:
        assert verify_signature(hook["secret"], r.body, r.headers)
        assert r.headers["webhook-id"] == r.event["id"]
        assert r.headers["X-Gateway-Event-Type"] == r.event["type"]
        assert r.headers["webhook-timestamp"].isdigit()
        assert r.headers["Content-Type"] == "application/json"
    events = [r.event for r in accepted]
    assert len({e["id"] for e in events}) == len(events)          # each event once
    failed_ids = {r.headers["webhook-id"] for r in receiver.received[:3]}
    assert failed_ids <= {e["id"] for e in events}                 # the failed ones came again...
    again = [r for r in accepted if r.headers["webhook-id"] in failed_ids]
    assert {r.headers["X-Gateway-Delivery-Attempt"] for r in again} == {"2"}
    assert all(r.body == next(x.body for x in receiver.received[:3]
                              if x.headers["webhook-id"] == r.headers["webhook-id"]) for r in again)

    # every state change, and nothing else, became an event: compare with the audit trail
    with gw.uow_factory() as uow:
        changes = [(e.action, e.subject_id, json.loads(e.detail)) for e in uow.session.scalars(
            select(m.AuditEvent).where(m.AuditEvent.action.in_(("filing.state", "order.status")))
            .order_by(m.AuditEvent.id))]
    expected = sorted((("filing.state_changed", sid, d["from"], d["to"]) if a == "filing.state"
                       else ("order.status_changed", sid, d["from"], d["to"])) for a, sid, d in changes)
    got = sorted((e["type"], e["data"]["filing_id"] if e["type"] == "filing.state_changed" else e["data"]["order_id"],
                  e["data"]["from"], e["data"]["to"]) for e in events)
    assert got == expected
    inventory = [e["data"] for e in events if e["type"] == "filing.state_changed"
                 and e["data"]["message_type"] == "CEB621Message"]
    assert [d["to"] for d in sorted(inventory, key=lambda d: st.RANK[d["to"]])] == [
        "sent", "declared", "accepted", "concluded", "released"]
    assert [(e["data"]["from"], e["data"]["to"]) for e in events if e["type"] == "order.status_changed"] == [
        ("in_progress", "released")]
    assert all(e["tenant_id"] == tenant and e["data"]["order_no"] for e in events)

    log = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=bearer(key)).json["deliveries"]
    assert len(log) == len(events) and {d["state"] for d in log} == {"delivered"}
    retried = [d for d in log if d["event_id"] in failed_ids]
    assert len(retried) == 3
    for d in retried:
        assert [(a["attempt"], a["status_code"]) for a in d["log"]] == [(1, 500), (2, 200)]
        assert d["log"][0]["error"] == "HTTP 500 Internal Server Error" or "500" in d["log"][0]["error"]
    assert client.get(f"/v1/webhooks/{hook['id']}/deliveries?state=failed", headers=bearer(key)).json == {
        "deliveries": [], "next": None}


def test_events_are_written_in_the_transaction_of_the_change(tmp_path, db_url, signing_key, receiver):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    tenant, key = add_tenant(gw)
    create_app(gw).test_client().post("/v1/webhooks", json={"url": receiver.url}, headers=bearer(key))
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    keeper = gw.dispatcher.keeper
    with gw.uow_factory() as uow:                   # a change that is rolled back...
        filing = uow.filings.get(tenant, sub.filing_ids["CEB311Message"])
        keeper.set_state(uow, filing, st.SENT, None, None, RoundResult())
        uow.flush()
        assert uow.session.scalar(select(func.count()).select_from(m.WebhookDelivery)) == 1   # the filing's event (the order status did not change)
        uow.rollback()
    assert pending_deliveries(gw) == 0              # ...leaves no event behind
    with gw.uow_factory() as uow:
        filing = uow.filings.get(tenant, sub.filing_ids["CEB311Message"])
        keeper.set_state(uow, filing, st.SENT, None, None, RoundResult())
        uow.commit()
    assert pending_deliveries(gw) == 1


def test_a_dead_endpoint_is_given_up_on_and_never_delays_a_live_one(tmp_path, db_url, signing_key, receiver):
    with socket.socket() as s:                      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    policy = DeliveryPolicy(webhook_max_attempts=3, webhook_backoff=Backoff(base=2, factor=2, cap=60))
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key, policy=policy)
    tenant, key = add_tenant(gw)
    client = create_app(gw).test_client()
    live = client.post("/v1/webhooks", json={"url": receiver.url}, headers=bearer(key)).json
    dead = client.post("/v1/webhooks", json={"url": f"http://127.0.0.1:{dead_port}/hook"}, headers=bearer(key)).json
    receiver.secret = live["secret"]
    gw.submit(tenant, fixture_text("1210-single-line.json"))

    gw.dispatcher.run_once()                         # round one: sent, and its events posted at once
    assert len(receiver.accepted()) >= 4

    drive(gw, clock, until=lambda: all_final(gw) and pending_deliveries(gw) == 0)
    live_log = client.get(f"/v1/webhooks/{live['id']}/deliveries?limit=1000", headers=bearer(key)).json["deliveries"]
    dead_log = client.get(f"/v1/webhooks/{dead['id']}/deliveries?limit=1000", headers=bearer(key)).json["deliveries"]
    assert {d["state"] for d in live_log} == {"delivered"} and all(d["attempts"] == 1 for d in live_log)
    assert len(dead_log) == len(live_log)
    assert {d["state"] for d in dead_log} == {"failed"} and all(d["attempts"] == 3 for d in dead_log)
    assert all(a["status_code"] is None and a["error"] for d in dead_log for a in d["log"])
    assert len(receiver.accepted()) == len(live_log)
