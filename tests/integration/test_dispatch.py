"""The dispatcher on real databases (SQLite and PostgreSQL): error classes, unknown outcomes and
lookups, per-row backoff, the circuit breaker, leases and several dispatchers, receipts that move
filings forward only, quarantine, and the state you can see. The last test runs dispatcher
processes against the sandbox government process and SIGKILLs one in the middle."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.adapters.sandbox import SandboxScript
from gateway.adapters.sandbox.receipts import ReturnEntity, receipt_message, return_time
from gateway.ports import OutgoingMessage, SendResult
from gateway.service.delivery.backoff import Backoff
from gateway.service.delivery.breaker import BreakerPolicy
from gateway.service.delivery.sender import Outcome
from gateway.service.dispatch import DeliveryPolicy, RoundResult
from gateway.store import models as m
from tests.delivery_helpers import (
    all_final,
    another_dispatcher,
    drive,
    final,
    line_gateway,
    many_orders,
    submit_many,
)
from tests.helpers import ROOT, add_tenant, fixture_text


def outbox_of(gw, guid: str) -> m.OutboxItem:
    with gw.uow_factory() as uow:
        row = uow.session.scalar(select(m.OutboxItem).join(m.Filing, m.Filing.id == m.OutboxItem.filing_id)
                                 .where(m.Filing.guid == guid))
        uow.session.expunge(row)          # readable after the unit of work ends
        return row


def audit(gw, action: str) -> list[dict]:
    with gw.uow_factory() as uow:
        return [json.loads(e.detail) for e in uow.session.scalars(
            select(m.AuditEvent).where(m.AuditEvent.action == action).order_by(m.AuditEvent.id))]


def guids(gw, order_id: str | None = None) -> dict[str, str]:
    """guid -> message type."""
    with gw.uow_factory() as uow:
        stmt = select(m.Filing.guid, m.Filing.message_type)
        if order_id:
            stmt = stmt.where(m.Filing.order_id == order_id)
        return dict(uow.session.execute(stmt).all())


def transitions(gw) -> list[tuple[str, str]]:
    with gw.uow_factory() as uow:
        return [(t.from_state, t.to_state) for t in
                uow.session.scalars(select(m.BreakerTransition).order_by(m.BreakerTransition.id))]


# ---- backoff (pure) ---------------------------------------------------------------------------------

def test_backoff_grows_exponentially_up_to_the_cap_with_injected_jitter():
    low, high = Backoff(base=1, factor=2, cap=60, rng=lambda: 0.0), Backoff(base=1, factor=2, cap=60, rng=lambda: 1.0)
    assert [low.delay(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 16, 30]
    assert [high.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 32, 60]
    assert high.delay(10_000) == 60                      # no overflow far past the cap
    values = iter([0.1, 0.9])
    spread = Backoff(base=10, rng=lambda: next(values))
    assert spread.delay(1) == pytest.approx(5.5) and spread.delay(1) == pytest.approx(9.5)


# ---- error classes --------------------------------------------------------------------------------

def test_a_timeout_after_the_government_accepted_is_looked_up_not_sent_again(tmp_path, db_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    line.plan = ["timeout_after_accept"]
    first = gw.dispatcher.run_once()
    assert (first.unknown, first.sent) == (1, 2)
    guid = line.sends()[0][1]
    row = outbox_of(gw, guid)
    assert row.state == "pending" and row.in_doubt and row.last_error.startswith("unknown outcome")
    assert line.government.deliveries(guid) == 1          # it did arrive

    drive(gw, clock)
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    assert [c[2] for c in line.calls if c[1] == guid] == ["timeout_after_accept", "pass"]   # a send, then a lookup
    assert [c[0] for c in line.calls if c[1] == guid] == ["send", "lookup"]
    assert all(line.government.deliveries(g) == 1 for g in guids(gw))
    assert audit(gw, "filing.send_unknown")[0]["guid"] == guid
    assert audit(gw, "filing.lookup") == [{"guid": guid, "adapter": "sandbox", "found": True}]
    sent = {e["guid"]: e for e in audit(gw, "filing.sent")}
    assert sent[guid]["looked_up"] is True and sent[guid]["attempt"] == 2


def test_a_timeout_before_anything_arrived_is_looked_up_then_resent(tmp_path, db_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    line.plan = ["timeout_before"]
    gw.dispatcher.run_once()
    guid = line.sends()[0][1]
    assert line.government.deliveries(guid) == 0
    drive(gw, clock)
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    assert [c[0] for c in line.calls if c[1] == guid] == ["send", "lookup", "send"]
    assert line.government.deliveries(guid) == 1
    assert audit(gw, "filing.lookup") == [{"guid": guid, "adapter": "sandbox", "found": False}]


def test_5xx_is_retried_with_the_same_message_id_after_a_per_row_backoff(tmp_path, db_url, signing_key):
    policy = DeliveryPolicy(backoff=Backoff(base=2, factor=2, cap=600))
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key, policy=policy, rng=lambda: 0.5)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    line.plan = ["5xx", "refused"]   # the first two sends of round one
    t0 = clock.now()
    r = gw.dispatcher.run_once()
    assert (r.retried, r.unknown, r.sent) == (2, 0, 1)
    first, second = line.sends()[0][1], line.sends()[1][1]
    row = outbox_of(gw, first)
    assert row.attempts == 1 and not row.in_doubt and "503" in row.last_error
    assert row.next_attempt_at == t0 + timedelta(seconds=1.5)     # ceiling 2 s: 1 + 0.5 × 1
    line.plan = ["5xx"]
    clock.advance(1.5)
    gw.dispatcher.send_due(RoundResult())
    row = outbox_of(gw, first)
    assert row.attempts == 2 and row.next_attempt_at == clock.now() + timedelta(seconds=3)   # ceiling 4 s
    drive(gw, clock)
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    assert [c for c in line.calls if c[0] == "lookup"] == []          # a 5xx or refusal is not in doubt
    assert [c[2] for c in line.sends(first)] == ["5xx", "5xx", "pass"]
    assert [c[2] for c in line.sends(second)] == ["refused", "pass"]
    stored = {g: gw.filing_bytes(tenant, fid)[1] for g, fid in
              ((f["guid"], f["id"]) for f in gw.order(tenant, sub.order_id)["filings"])}
    assert line.government.received_bytes(first) == stored[first]
    assert all(line.government.deliveries(g) == 1 for g in guids(gw))


def test_a_blocking_refusal_rejects_the_filing_with_its_reason_and_holds_back_the_inventory(
        tmp_path, db_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    line.plan = ["reject"]
    drive(gw, clock)
    view = gw.order(tenant, sub.order_id)
    states = {f["message_type"]: f["state"] for f in view["filings"]}
    assert states["CEB311Message"] == "rejected" and states["CEB621Message"] == "rejected"
    assert view["status"] == "rejected"
    assert "HTTP 400" in view["status_reason"] and "schema" in view["status_reason"]
    assert "not sent: CEB311Message of the same order was rejected" in view["status_reason"]
    inventory_guid = next(f["guid"] for f in view["filings"] if f["message_type"] == "CEB621Message")
    assert line.sends(inventory_guid) == [] and outbox_of(gw, inventory_guid).state == "failed"
    # the inspection, tax and FX records go with (or after) the inventory: held back with it
    for record in ("InspectionRecord", "TaxRecord", "FxRecord"):
        guid = next(f["guid"] for f in view["filings"] if f["message_type"] == record)
        assert states[record] == "rejected" and line.sends(guid) == []
    assert len(line.sends()) == 3                     # refused once, never resent


def test_already_done_counts_as_sent(tmp_path, db_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    order_filing = next(f for f in gw.order(tenant, sub.order_id)["filings"] if f["message_type"] == "CEB311Message")
    mt, data = gw.filing_bytes(tenant, order_filing["id"])
    line.government.send(OutgoingMessage(order_filing["guid"], mt, data))   # it got there before, somehow
    drive(gw, clock)
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    sent = {e["guid"]: e for e in audit(gw, "filing.sent")}
    assert sent[order_filing["guid"]]["duplicate"] is True
    assert outbox_of(gw, order_filing["guid"]).state == "sent"


# ---- circuit breaker -------------------------------------------------------------------------------

def test_the_circuit_opens_blocks_probes_with_one_message_and_closes(tmp_path, db_url, signing_key):
    policy = DeliveryPolicy(breaker=BreakerPolicy(threshold=3, cooldown_seconds=60, max_cooldown_seconds=600),
                            backoff=Backoff(base=1, cap=30))
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key, policy=policy)
    tenant, _ = add_tenant(gw)
    order_ids = submit_many(gw, tenant, many_orders(3))
    line.down_until = clock.now() + timedelta(seconds=200)

    r = gw.dispatcher.run_once()                       # 9 sequence-1 filings claimed
    assert (r.retried, r.released, len(line.sends())) == (3, 6, 3)
    assert transitions(gw) == [("closed", "open")]
    assert gw.dispatcher.status()["breakers"][0]["state"] == "open"

    clock.advance(30)                                   # still cooling down: nothing is sent
    r = gw.dispatcher.run_once()
    assert r.blocked_adapters == {"sandbox"} and len(line.sends()) == 3

    clock.advance(31)                                   # cool-down over, but still down: ONE probe fails
    r = gw.dispatcher.run_once()
    assert len(line.sends()) == 4
    assert transitions(gw)[1:] == [("open", "half_open"), ("half_open", "open")]
    with gw.uow_factory() as uow:
        breaker = uow.session.get(m.Breaker, "sandbox")
        assert breaker.retry_at == clock.now() + timedelta(seconds=120)   # the cool-down doubled

    clock.advance(200)                                  # the line is back: the probe goes through
    sends_before = len(line.sends())
    gw.dispatcher.send_due(RoundResult())
    probe = line.sends()[sends_before:]
    assert transitions(gw)[3:] == [("open", "half_open"), ("half_open", "closed")]
    assert len(probe) >= 1 and probe[0][2] == "pass"
    with gw.uow_factory() as uow:
        half_open = [t for t in uow.session.scalars(select(m.BreakerTransition)) if t.to_state == "half_open"][-1]
        assert "one message" in half_open.reason

    drive(gw, clock)
    assert {gw.order(tenant, oid)["status"] for oid in order_ids} == {"released"}
    assert all(line.government.deliveries(g) == 1 for g in guids(gw))
    status = gw.dispatcher.status()
    assert status["breakers"][0]["state"] == "closed"
    assert [(t["from"], t["to"]) for t in status["transitions"]] == transitions(gw)


def test_breaker_state_is_shown_by_the_cli(tmp_path, db_url, signing_key):
    policy = DeliveryPolicy(breaker=BreakerPolicy(threshold=1, cooldown_seconds=3600))
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key, policy=policy)
    tenant, _ = add_tenant(gw)
    gw.submit(tenant, fixture_text("1210-single-line.json"))
    line.down_until = clock.now() + timedelta(hours=2)
    gw.dispatcher.run_once()
    env = {**os.environ, "GATEWAY_DATABASE_URL": db_url, "GATEWAY_INSTANCE_DIR": str(tmp_path / "instance")}
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "dispatch", "status", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    (breaker,) = [b for b in status["breakers"] if b["adapter"] == "sandbox"]
    assert breaker["state"] == "open" and breaker["consecutive_failures"] == 1
    assert "connection refused" in breaker["last_error"]
    # 4 customs filings and the inspection, tax and FX records
    assert status["outbox"]["sandbox"]["pending"] == 7 and status["outbox"]["sandbox"]["sent"] == 0
    text = subprocess.run([sys.executable, "-m", "gateway.cli", "dispatch", "status"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert "sandbox" in text.stdout and "open" in text.stdout and "closed -> open" in text.stdout


# ---- independence, leases, several dispatchers ------------------------------------------------------

def test_one_stuck_filing_does_not_hold_up_unrelated_ones(tmp_path, db_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    stuck_order, other_order = submit_many(gw, tenant, many_orders(2))
    stuck = next(g for g, t in guids(gw, stuck_order).items() if t == "CEB311Message")
    line.always_fail = {stuck}
    drive(gw, clock, until=lambda: gw.order(tenant, other_order)["status"] == "released")
    view = gw.order(tenant, stuck_order)
    states = {f["message_type"]: f["state"] for f in view["filings"]}
    assert states["CEB311Message"] == "pending" and states["CEB621Message"] == "pending"
    assert states["CEB411Message"] != "pending" and states["CEB511Message"] != "pending"
    inventory = next(g for g, t in guids(gw, stuck_order).items() if t == "CEB621Message")
    assert line.sends(inventory) == []                 # waits for its own order's CEB311 only
    row = outbox_of(gw, stuck)
    assert row.attempts >= 2 and "503" in row.last_error


def test_a_dead_dispatchers_claims_expire_and_the_next_one_looks_up_before_sending(tmp_path, db_url, signing_key):
    policy = DeliveryPolicy(lease_seconds=120)
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key, policy=policy, owner="dispatcher-A")
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    a = gw.dispatcher
    claimed = a.sender.claim("sandbox", RoundResult())
    assert len(claimed) == 3
    line.send(OutgoingMessage(claimed[0].guid, claimed[0].message_type, claimed[0].body))   # then A dies
    b = another_dispatcher(gw, line, clock, "dispatcher-B", policy)

    r = b.run_once()
    assert r.sent == 0 and len(line.sends()) == 1      # leased rows are not due: B leaves them alone
    with gw.uow_factory() as uow:
        rows = uow.session.scalars(select(m.OutboxItem).where(m.OutboxItem.claimed_by == "dispatcher-A")).all()
        assert len(rows) == 3 and all(row.in_doubt for row in rows)

    clock.advance(121)
    r = b.run_once()
    assert r.looked_up == 3 and r.sent == 3
    assert {e["guid"]: e["found"] for e in audit(gw, "filing.lookup")} == {
        claimed[0].guid: True, claimed[1].guid: False, claimed[2].guid: False}

    lost = RoundResult()                               # A wakes up and tries to record: fenced off
    a.sender._record("sandbox", claimed[1], Outcome.RETRY,
                     SendResult(claimed[1].guid, accepted=False, retryable=True, error="late"), None, lost)
    assert lost.lost_leases == 1 and outbox_of(gw, claimed[1].guid).state == "sent"

    b.policy = policy
    while not all_final(gw):
        b.run_once()
        clock.advance(5)
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    assert all(line.government.deliveries(g) == 1 for g in guids(gw))


def test_several_dispatchers_at_once_send_every_filing_exactly_once(tmp_path, db_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key, policy=DeliveryPolicy(batch_size=7))
    tenant, _ = add_tenant(gw)
    order_ids = submit_many(gw, tenant, many_orders(16))
    dispatchers = [another_dispatcher(gw, line, clock, f"dispatcher-{i}") for i in range(3)]
    errors, deadline, start = [], time.monotonic() + 50, threading.Barrier(3)

    def work(d):
        try:
            start.wait(20)
            while not all_final(gw) and time.monotonic() < deadline:
                d.run_once()
        except BaseException as exc:   # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert all_final(gw)
    sends = line.sends()
    # 16 orders x 4 customs filings, and each order's inspection, tax and FX records
    total = len(guids(gw))
    assert sum(t.startswith("CEB") for t in guids(gw).values()) == 64 and total > 64
    assert len(sends) == total and len({c[1] for c in sends}) == total       # no filing sent twice
    assert all(line.government.deliveries(g) == 1 for g in guids(gw))
    sent = audit(gw, "filing.sent")
    assert len(sent) == total and len({e["guid"] for e in sent}) == total
    assert len({e["dispatcher"] for e in sent}) >= 2                   # they really shared the work
    statuses = {gw.order(tenant, oid)["status"] for oid in order_ids}
    assert statuses <= {"released", "rejected"}


# ---- receipts ---------------------------------------------------------------------------------------

def _order_receipt(business_key: str, status: str, when, info: str = "") -> bytes:
    ebp, ebc, order_no = business_key.split(":", 1)[1].split("|")
    entity = ReturnEntity("OrderReturn", f"R-{status}-{return_time(when)}",
                          (("ebpCode", ebp), ("ebcCode", ebc), ("orderNo", order_no)),
                          status, return_time(when), info or f"status {status}")
    return receipt_message("CEB312Message", f"M-{status}-{return_time(when)}", [entity])


def test_receipts_apply_by_rank_then_by_time_and_stale_or_repeated_ones_change_nothing(
        tmp_path, db_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.send_due(RoundResult())
    with gw.uow_factory() as uow:
        filing = uow.filings.get(tenant, sub.filing_ids["CEB311Message"])
        key = filing.business_key
    t = clock.now()
    r = RoundResult()
    for status, when in (("2", t), ("3", t + timedelta(seconds=5)),       # same rank, newer: applied
                         ("1", t + timedelta(seconds=1)),                  # same rank, older: ignored
                         ("120", t - timedelta(seconds=60)),               # higher rank, whatever its time
                         ("2", t + timedelta(minutes=9))):                 # lower rank: ignored
        gw.dispatcher.ingest("sandbox", _order_receipt(key, status, when), status, clock.now(), r)
    gw.dispatcher.ingest("sandbox", _order_receipt(key, "3", t + timedelta(seconds=5)), "dup", clock.now(), r)
    assert (r.receipts, r.duplicates, r.applied) == (5, 1, 3)
    view = gw.order(tenant, sub.order_id)
    order_filing = next(f for f in view["filings"] if f["message_type"] == "CEB311Message")
    assert order_filing["state"] == "accepted" and order_filing["status_code"] == "120"
    assert [(x["status_code"], x["outcome"]) for x in order_filing["receipts"]] == [
        ("2", "applied"), ("3", "applied"), ("1", "ignored"), ("120", "applied"), ("2", "ignored")]


def test_ceb900_rejects_the_filing_with_its_code_and_reason(tmp_path, db_url, signing_key):
    script = SandboxScript().format_error("CEB411Message")
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key, script=script)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    drive(gw, clock)
    view = gw.order(tenant, sub.order_id)
    payment = next(f for f in view["filings"] if f["message_type"] == "CEB411Message")
    assert payment["state"] == "rejected" and payment["status_code"] == "-1"
    assert view["status"] == "rejected" and "CEB411Message: [-1]" in view["status_reason"]
    assert "scripted format error" in view["status_reason"]


def test_unreadable_and_unmatched_receipts_are_quarantined_and_shown(tmp_path, db_url, signing_key):
    import hashlib

    from gateway.api import create_app

    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    tenant, tenant_key = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    r = RoundResult()
    gw.dispatcher.ingest("sandbox", b"<not-xml", "q1", clock.now(), r)
    stranger = _order_receipt("order:1111111111|2222222222|NOBODY-1", "2", clock.now())
    gw.dispatcher.ingest("sandbox", stranger, "q2", clock.now(), r)
    assert (r.quarantined, r.unmatched) == (1, 1)
    drive(gw, clock)                                    # the receipts behind them still apply
    assert gw.order(tenant, sub.order_id)["status"] == "released"

    operator_key = "op_" + "x" * 40
    app = create_app(gw, {"GATEWAY_OPERATOR_KEY_SHA256": hashlib.sha256(operator_key.encode()).hexdigest()})
    client = app.test_client()
    everything = client.get("/v1/receipts/quarantine", headers={"Authorization": f"Bearer {operator_key}"})
    assert everything.status_code == 200, everything.json
    rows = everything.json["receipts"]
    assert everything.json["scope"] == "all tenants"
    assert [(x["cursor"], x["outcome"], x["tenant_id"]) for x in rows] == [("q2", "unmatched", None),
                                                                           ("q1", "quarantined", None)]
    assert "not well-formed" in rows[1]["reason"] and "NOBODY-1" in rows[0]["reason"]
    mine = client.get("/v1/receipts/quarantine", headers={"Authorization": f"Bearer {tenant_key}"})
    assert mine.status_code == 200 and mine.json == {"scope": "tenant", "receipts": [], "next": None}   # tenant-less: operator only
    assert client.get("/v1/receipts/quarantine").status_code == 401
    assert client.get("/v1/dispatch/status", headers={"Authorization": f"Bearer {tenant_key}"}).status_code == 403
    status = client.get("/v1/dispatch/status", headers={"Authorization": f"Bearer {operator_key}"})
    assert status.status_code == 200 and status.json["receipts"] == {"quarantined": 1, "unmatched": 1}

    env = {**os.environ, "GATEWAY_DATABASE_URL": db_url, "GATEWAY_INSTANCE_DIR": str(tmp_path / "instance")}
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "receipts", "quarantine", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [x["cursor"] for x in json.loads(out.stdout)] == ["q2", "q1"]


# ---- a dispatcher process killed in the middle ---------------------------------------------------------

def _outbox_states(gw) -> set[str]:
    with gw.uow_factory() as uow:
        return {s for (s,) in uow.session.execute(select(m.OutboxItem.state))}


@pytest.mark.slow
def test_sigkilled_dispatcher_process_1000_filings_each_accepted_exactly_once(tmp_path, db_url, signing_key):
    """150 orders (1,000 filings and more: customs' four each, and their inspection, tax and FX records)
    sent by `gateway dispatch run` processes to the sandbox government
    process over HTTP. The first dispatcher is SIGKILLed while a send it made is held at the
    government (accepted, not yet answered); two dispatchers restart and finish the work. Every
    filing reaches its final state and the government accepted every message id exactly once.
    On SQLite (several processes on one file) and on PostgreSQL (SKIP LOCKED claims)."""
    from tests.sandbox_process import SandboxProcess

    with SandboxProcess.start(tmp_path) as sandbox:
        options = {"base_url": sandbox.url("http"), "connect_timeout": 1, "read_timeout": 3}
        env = {**os.environ, "GATEWAY_DATABASE_URL": db_url, "GATEWAY_INSTANCE_DIR": str(tmp_path / "instance"),
               "GATEWAY_ADAPTER": "http", "GATEWAY_ADAPTER_OPTIONS": json.dumps(options),
               "GATEWAY_CHANNEL_ENVIRONMENT": "sandbox",   # a sandbox process behind the http adapter
               "GATEWAY_DISPATCH_LEASE_SECONDS": "8", "GATEWAY_DISPATCH_BATCH": "50",
               "GATEWAY_RETRY_BASE_SECONDS": "0.2", "GATEWAY_RETRY_MAX_SECONDS": "2",
               "GATEWAY_AUTO_MIGRATE": "always", "PYTHONUNBUFFERED": "1"}
        from gateway.bootstrap import bootstrap
        from gateway.config import Settings

        gw = bootstrap(Settings.from_env(env), key=signing_key)
        tenant, _ = add_tenant(gw)
        submit_many(gw, tenant, many_orders(150))
        all_guids = guids(gw)
        assert sum(t.startswith("CEB") for t in all_guids.values()) == 600 and len(all_guids) > 1000

        def dispatcher(name):
            log = open(tmp_path / f"{name}.log", "wb")
            return subprocess.Popen([sys.executable, "-m", "gateway.cli", "dispatch", "run", "--interval", "0.05",
                                     "--owner", name], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

        first = dispatcher("dispatcher-1")
        try:
            deadline = time.monotonic() + 120          # bounds, not timing goals (bench/dispatch.py)
            while len(sandbox.received()) < 200:
                assert first.poll() is None, (tmp_path / "dispatcher-1.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the first dispatcher sent too little in 120 s"
                time.sleep(0.1)
            held_before = _held(sandbox)
            sandbox.faults({"timeout_after_accept": {"times": 1, "hold": 5}})
            while _held(sandbox) == held_before:
                assert time.monotonic() < deadline + 30, "no send reached the government"
                time.sleep(0.02)
            time.sleep(0.3)                            # the government took it; the answer is held
            first.send_signal(signal.SIGKILL)          # mid-send: that message is at the government
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        sandbox.faults({})
        at_kill = len(sandbox.received())
        assert 200 <= at_kill < len(all_guids), at_kill

        others = [dispatcher("dispatcher-2"), dispatcher("dispatcher-3")]
        try:
            deadline = time.monotonic() + 240
            # every filing final and every outbox row settled: with concurrent sends the killed
            # dispatcher leaves several rows in doubt, whose filings the receipts may finish first;
            # those rows are looked up (not sent again) once the dead claim's lease has run out
            while not (all_final(gw) and _outbox_states(gw) == {"sent"}):
                for p in others:
                    assert p.poll() is None, (tmp_path / "dispatcher-2.log").read_text()[-3000:]
                assert time.monotonic() < deadline, f"not done: {gw_states(gw)}"
                time.sleep(0.5)
        finally:
            for p in others:
                p.send_signal(signal.SIGTERM)
            for p in others:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()

        received = sandbox.received()
        assert set(received) == set(all_guids)
        assert {v["deliveries"] for v in received.values()} == {1}, \
            {k: v for k, v in received.items() if v["deliveries"] != 1}
        with gw.uow_factory() as uow:
            states = uow.session.execute(select(m.Filing.message_type, m.Filing.state)).all()
            outbox = {s for (s,) in uow.session.execute(select(m.OutboxItem.state))}
        assert all(final(t, s) for t, s in states)
        assert outbox == {"sent"}
        found = [e for e in audit(gw, "filing.lookup") if e["found"]]
        assert found, "the send held at the government when the dispatcher died was resolved by a lookup"


def _held(sandbox) -> int:
    """How many timeout_after_accept faults the sandbox has applied (the held send is in flight)."""
    return int(sandbox.http.get(f"{sandbox.url('http')}/admin/faults", timeout=(2, 5)).json()
               .get("applied", {}).get("timeout_after_accept", 0))


def gw_states(gw):
    from tests.delivery_helpers import filing_states

    return filing_states(gw)
