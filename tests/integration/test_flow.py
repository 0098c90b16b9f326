"""The whole path on a real database (SQLite and PostgreSQL): submit -> plan -> build, validate,
sign -> store with outbox in one transaction -> dispatch to the sandbox -> receipts -> status."""
import hashlib
import json

import pytest
from sqlalchemy import func, select

from gateway.adapters.sandbox import SandboxScript
from gateway.domain.problems import OrderInvalid
from gateway.service.orders import NotFound, OrderConflict
from gateway.signing import verify
from gateway.store import models as m
from tests.helpers import add_tenant, fixture_json, fixture_text, make_gateway, submit_sent_anyway, valid_fixtures


def count(gw, model):
    with gw.uow_factory() as uow:
        return uow.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def gw(tmp_path, db_url, signing_key):
    gateway, _ = make_gateway(tmp_path, db_url, signing_key)
    return gateway


def test_order_reaches_released_with_its_receipt_history(gw):
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    # customs' four documents, and the records of the other agencies (cosmetics: legal inspection, M)
    assert sub.created and set(sub.filing_ids) == {"CEB311Message", "CEB411Message", "CEB511Message",
                                                   "CEB621Message", "InspectionRecord", "TaxRecord", "FxRecord"}
    assert gw.order(tenant, sub.order_id)["status"] == "in_progress"
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "released", view
    assert view["agencies"] == {"customs": "released", "inspection": "released", "tax": "released",
                                "fx": "released"}
    history = {f["message_type"]: [r["status_code"] for r in f["receipts"]] for f in view["filings"]}
    assert history == {"CEB311Message": ["2", "120"], "CEB411Message": ["2", "120"],
                       "CEB511Message": ["2", "120"], "CEB621Message": ["2", "120", "399", "800"],
                       "InspectionRecord": ["accepted", "released"], "TaxRecord": ["accepted", "1"],
                       "FxRecord": ["accepted", "released"]}


def test_every_valid_fixture_gets_a_final_status(gw):
    tenant, _ = add_tenant(gw)
    ids = {p.name: gw.submit(tenant, p.read_text("utf-8")).order_id for p in valid_fixtures()}
    gw.dispatcher.run_until_idle()
    statuses = {name: gw.order(tenant, oid)["status"] for name, oid in ids.items()}
    assert statuses.pop("9610-over-single-limit.json") == "held"     # customs would refuse it: not sent
    assert set(statuses.values()) == {"released"}, statuses


def test_rejected_order_shows_the_reason_customs_gave(gw):
    tenant, _ = add_tenant(gw)
    sub = submit_sent_anyway(gw, tenant, fixture_text("9610-over-single-limit.json"))   # held, then released
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "rejected"
    assert "-621005" in view["status_reason"] and "单笔限额" in view["status_reason"]
    inventory = next(f for f in view["filings"] if f["message_type"] == "CEB621Message")
    assert inventory["state"] == "rejected" and inventory["status_code"] == "-621005"


def test_scripted_rejection_reason_reaches_the_order(tmp_path, db_url, signing_key):
    order_no = fixture_json("1210-single-line.json")["order_no"]
    script = SandboxScript()
    script.reject(order_no, "商品归类有误 (wrong classification)")
    gw, _ = make_gateway(tmp_path, db_url, signing_key, script=script)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "rejected"
    assert "商品归类有误" in view["status_reason"]


def test_inventory_is_sent_only_after_order_payment_and_waybill(tmp_path, db_url, signing_key):
    gw, sandbox = make_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_until_idle()
    with gw.uow_factory() as uow:
        sent = [(e.detail, e.at) for e in uow.session.scalars(
            select(m.AuditEvent).where(m.AuditEvent.action == "filing.sent").order_by(m.AuditEvent.id))]
    types = [json.loads(d)["guid"] for d, _ in sent]
    assert len(types) == 7          # customs' four documents and the inspection, tax and FX records
    with gw.uow_factory() as uow:
        by_guid = {f.guid: f.message_type for f in uow.session.scalars(select(m.Filing))}
    # order, payment and waybill first; then the inventory with the inspection and FX records; the tax
    # record last, after the inventory it taxes
    assert [by_guid[g] for g in types[:3]] == ["CEB311Message", "CEB411Message", "CEB511Message"]
    assert {by_guid[g] for g in types[3:6]} == {"CEB621Message", "InspectionRecord", "FxRecord"}
    assert by_guid[types[-1]] == "TaxRecord"


def test_stored_bytes_are_the_sent_bytes_and_verify(tmp_path, db_url, signing_key):
    gw, sandbox = make_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    for message_type, filing_id in sub.filing_ids.items():
        mt, data = gw.filing_bytes(tenant, filing_id)
        assert mt == message_type
        verify(data)
    gw.dispatcher.run_until_idle()
    with gw.uow_factory() as uow:
        filing = uow.filings.get(tenant, sub.filing_ids["CEB621Message"])
        stored, guid, sha = bytes(filing.signed_bytes), filing.guid, filing.sha256
    assert hashlib.sha256(stored).hexdigest() == sha
    assert sandbox.received_bytes(guid) == stored


def test_invalid_order_stores_nothing(gw):
    tenant, _ = add_tenant(gw)
    data = fixture_json("1210-single-line.json")
    data["actual_paid"] = "1.00"
    before = (count(gw, m.Order), count(gw, m.Filing), count(gw, m.OutboxItem), count(gw, m.AuditEvent))
    with pytest.raises(OrderInvalid) as exc:
        gw.submit(tenant, json.dumps(data, ensure_ascii=False))
    assert {(p.path, p.rule) for p in exc.value.problems} >= {("$.actual_paid", "actual-paid")}
    assert (count(gw, m.Order), count(gw, m.Filing), count(gw, m.OutboxItem), count(gw, m.AuditEvent)) == before


def test_same_order_twice_is_idempotent_and_a_changed_one_conflicts(gw):
    tenant, _ = add_tenant(gw)
    first = gw.submit(tenant, fixture_text("1210-single-line.json"))
    again = gw.submit(tenant, fixture_text("1210-single-line.json"))
    assert (again.order_id, again.filing_ids, again.created) == (first.order_id, first.filing_ids, False)
    changed = fixture_json("1210-single-line.json")
    changed["consignee"]["telephone"] = "13900000000"
    with pytest.raises(OrderConflict):
        gw.submit(tenant, json.dumps(changed, ensure_ascii=False))
    assert count(gw, m.Order) == 1 and count(gw, m.Filing) == 7    # 4 customs + inspection, tax, FX


def test_tenant_cannot_see_another_tenants_order(gw):
    a, _ = add_tenant(gw, "Tenant A")
    b, _ = add_tenant(gw, "Tenant B")
    sub = gw.submit(a, fixture_text("1210-single-line.json"))
    with pytest.raises(NotFound):
        gw.order(b, sub.order_id)
    with pytest.raises(NotFound):
        gw.filing_bytes(b, sub.filing_ids["CEB621Message"])
    # B may file the same order number for itself: numbers are per tenant
    assert gw.submit(b, fixture_text("1210-single-line.json")).order_id != sub.order_id


def test_transport_errors_are_retried_with_the_same_message_id(tmp_path, db_url, signing_key):
    script = SandboxScript()
    script.transport_error(times=2)
    gw, sandbox = make_gateway(tmp_path, db_url, signing_key, script=script)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    # retries wait for their backoff: move the clock past it between rounds
    for _ in range(30):
        gw.dispatcher.run_once()
        gw.clock.start = gw.clock.start.__class__.fromtimestamp(gw.clock.now().timestamp() + 60, gw.clock.start.tzinfo)
        if gw.order(tenant, sub.order_id)["status"] != "in_progress":
            break
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    with gw.uow_factory() as uow:
        guids = [f.guid for f in uow.filings.for_order(tenant, sub.order_id)]
    assert all(sandbox.deliveries(g) == 1 for g in guids)


def test_duplicate_and_unreadable_receipts(tmp_path, db_url, signing_key):
    script = SandboxScript()
    script.duplicate_receipts()
    gw, sandbox = make_gateway(tmp_path, db_url, signing_key, script=script)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_until_idle()
    from gateway.service.dispatch import RoundResult
    r = RoundResult()
    gw.dispatcher.ingest("sandbox", b"<not-xml", "x1", gw.clock.now(), r)
    gw.dispatcher.ingest("sandbox", b"<?xml version='1.0'?><Unknown/>", "x2", gw.clock.now(), r)
    assert r.quarantined == 2
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "released"
    inventory = next(f for f in view["filings"] if f["message_type"] == "CEB621Message")
    assert [x["status_code"] for x in inventory["receipts"]] == ["2", "120", "399", "800"]
    with gw.uow_factory() as uow:
        outcomes = [row.outcome for row in uow.session.scalars(select(m.Receipt).order_by(m.Receipt.id))]
    assert outcomes.count("quarantined") == 2
