"""Corrections and reversals end to end on a real database (SQLite and PostgreSQL) with the sandbox
government: release an order, then cancel it, return it (within and after 30 days, with the buyer's
annual amount), modify it before and after its inventory is declared, delete an inventory; the export
cancellation and return; what the sandbox itself refuses; the API (docs/corrections.md)."""
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from gateway.adapters.sandbox import SandboxScript
from gateway.api import create_app
from gateway.declarations.builders import BUILDERS
from gateway.declarations.ceb_reversals import InventoryRef, build_ceb623
from gateway.declarations.common import FilingContext, Transfer
from gateway.declarations.receipts import parse_receipt
from gateway.domain import status as st
from gateway.domain.parse import parse_order
from gateway.domain.problems import OrderInvalid
from gateway.ports import OutgoingMessage
from gateway.service.corrections import CorrectionInvalid, CorrectionRefused, CorrectionService, history
from gateway.store import annual
from gateway.store import models as m
from tests.helpers import ROOT, add_tenant, fixture_json, fixture_text, make_gateway

EXPORT = ROOT / "fixtures" / "orders" / "export" / "valid"
BUYER = "110105199003071239"          # 1210-single-line.json: buyer 张伟


@pytest.fixture
def env(tmp_path, db_url, signing_key):
    gw, sandbox = make_gateway(tmp_path, db_url, signing_key)
    tenant, key = add_tenant(gw)
    return gw, sandbox, tenant, CorrectionService.for_gateway(gw), key


def released(gw, tenant, text):
    sub = gw.submit(tenant, text)
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    return sub.order_id


def filings(gw, tenant, order_id):
    with gw.uow_factory() as uow:
        return {f.id: (f.message_type, f.state, f.app_type, f.corrects_id, f.guid)
                for f in uow.filings.for_order(tenant, order_id)}


def by_type(gw, tenant, order_id, message_type):
    return [(fid, *rest) for fid, (mt, *rest) in filings(gw, tenant, order_id).items() if mt == message_type]


def counts(gw):
    with gw.uow_factory() as uow:
        return tuple(uow.session.scalar(select(func.count()).select_from(model))
                     for model in (m.Filing, m.OutboxItem, m.Correction, m.OrderVersion, m.AuditEvent))


def receipts_of(gw, tenant, order_id, filing_id):
    view = gw.order(tenant, order_id)
    return [r["status_code"] for f in view["filings"] if f["id"] == filing_id for r in f["receipts"]]


def counted(gw, tenant, order_id, amount="434.22"):
    """The order's entry in the buyer's annual ledger: the tax step counts it at submission; count it
    here when it does not (it is what a return gives back)."""
    with gw.uow_factory() as uow:
        entry = next((e for e in annual.entries(uow, BUYER, 2026) if e.order_id == order_id and e.kind == "counted"),
                     None)
        if entry is None:
            entry = annual.add(uow, BUYER, 2026, Decimal(amount), order_id, tenant_id=tenant)
            uow.commit()
        return Decimal(entry.amount), annual.used(uow, BUYER, 2026)


def used(gw):
    with gw.uow_factory() as uow:
        return annual.used(uow, BUYER, 2026)


def audit_actions(gw, order_id):
    with gw.uow_factory() as uow:
        return [e.action for e in uow.audit.for_subject("order", order_id)]


# -- import cancellation (CEB623) ---------------------------------------------------------------------------

def test_a_released_order_is_cancelled(env):
    gw, sandbox, tenant, service, _ = env
    order_id = released(gw, tenant, fixture_text("1210-single-line.json"))
    [(inventory_id, *_)] = by_type(gw, tenant, order_id, "CEB621Message")
    done = service.cancel_inventory(tenant, order_id, "买家取消订单，商品未出区")
    [(cancel_id, state, app_type, corrects, guid)] = by_type(gw, tenant, order_id, "CEB623Message")
    assert done.filing_ids == {"CEB623Message": cancel_id} and done.kind == "cancel"
    assert (state, app_type, corrects) == (st.PENDING, "1", inventory_id)
    assert gw.order(tenant, order_id)["status"] == "released"        # until customs concludes it
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, order_id)
    assert view["status"] == "cancelled", view
    assert filings(gw, tenant, order_id)[inventory_id][1] == st.CANCELLED
    assert receipts_of(gw, tenant, order_id, cancel_id) == ["2", "120", "399"]
    assert b"<ceb:reason>" in sandbox.received_bytes(guid)
    assert "correction.filed" in audit_actions(gw, order_id)
    # once cancelled: no second cancellation, no return
    with pytest.raises(CorrectionRefused) as again:
        service.cancel_inventory(tenant, order_id, "again")
    assert again.value.rule == "already-cancelled" and again.value.refusal.customs_code == "-623009"
    with pytest.raises(CorrectionRefused) as ret:
        service.return_goods(tenant, order_id, None, "退货")
    assert ret.value.rule == "return-state"


def test_a_cancellation_customs_refuses_leaves_the_order_released_and_may_be_filed_again(tmp_path, db_url,
                                                                                          signing_key):
    order_no = fixture_json("1210-single-line.json")["order_no"]
    script = SandboxScript().reject(order_no, "撤单理由不充分 (reason not accepted)", on="CEB623Message")
    gw, sandbox = make_gateway(tmp_path, db_url, signing_key, script=script)
    tenant, _ = add_tenant(gw)
    service = CorrectionService.for_gateway(gw)
    order_id = released(gw, tenant, fixture_text("1210-single-line.json"))
    service.cancel_inventory(tenant, order_id, "买家取消")
    gw.dispatcher.run_until_idle()
    [(first, state, *_)] = by_type(gw, tenant, order_id, "CEB623Message")
    assert state == st.REJECTED and receipts_of(gw, tenant, order_id, first) == ["2", "100"]
    assert gw.order(tenant, order_id)["status"] == "released"            # the refusal does not reject the order
    [(_, inventory_state, *_)] = by_type(gw, tenant, order_id, "CEB621Message")
    assert inventory_state == st.RELEASED
    again = service.cancel_inventory(tenant, order_id, "买家取消，补充说明")   # a refused one may be filed again
    assert again.filing_ids["CEB623Message"] != first


def test_a_cancellation_needs_a_released_inventory_and_a_reason(env):
    gw, sandbox, tenant, service, _ = env
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    for _ in range(3):
        gw.dispatcher.run_once()                                         # the inventory is at 120, not 800
    before = counts(gw)
    with pytest.raises(CorrectionRefused) as refused:
        service.cancel_inventory(tenant, sub.order_id, "买家取消")
    assert (refused.value.rule, refused.value.refusal.customs_code) == ("cancel-state", "-623005")
    with pytest.raises(CorrectionInvalid) as invalid:
        service.cancel_inventory(tenant, sub.order_id, "   ")
    assert [(p.path, p.rule) for p in invalid.value.problems] == [("$.reason", "cancel-reason")]
    assert counts(gw) == before                                         # nothing stored


# -- import return (CEB625, 2020 No.45) ----------------------------------------------------------------------

def test_a_return_on_day_30_is_accepted_and_gives_the_annual_amount_back(env):
    gw, sandbox, tenant, service, _ = env
    order_id = released(gw, tenant, fixture_text("1210-single-line.json"))   # released on 2026-11-20
    amount, before = counted(gw, tenant, order_id)
    gw.clock.start += timedelta(days=30)                                     # 2026-12-20: the last day
    done = service.return_goods(tenant, order_id, None, "尺寸不合适，买家退货")
    assert done.due_by == date(2027, 1, 4)                                   # the goods back within 45 days
    assert used(gw) == before                                               # not before customs accepts it
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, order_id)
    assert view["status"] == "returned", view
    [(inventory_id, state, *_)] = by_type(gw, tenant, order_id, "CEB621Message")
    assert state == st.REFUNDED
    [(return_id, *_)] = by_type(gw, tenant, order_id, "CEB625Message")
    assert receipts_of(gw, tenant, order_id, return_id) == ["2", "120", "399"]
    assert used(gw) == before - amount
    assert "annual.restored" in audit_actions(gw, order_id)
    h = history(gw.uow_factory, tenant, order_id, gw.clock)
    assert {"kind": "goods-back-by", "date": "2027-01-04"}.items() <= h["deadlines"][0].items()
    [correction] = [c for c in h["corrections"] if c["kind"] == "return"]
    assert correction["due_by"] == "2027-01-04" and correction["detail"]["complete"] is True
    assert correction["detail"]["window"]["apply_by"] == "2026-12-20"


def test_a_return_after_30_days_is_refused_with_the_rule(env):
    gw, sandbox, tenant, service, _ = env
    order_id = released(gw, tenant, fixture_text("1210-single-line.json"))
    amount, before = counted(gw, tenant, order_id)
    gw.clock.start += timedelta(days=31)                                     # 2026-12-21
    stored = counts(gw)
    with pytest.raises(CorrectionRefused) as refused:
        service.return_goods(tenant, order_id, None, "买家退货")
    assert refused.value.rule == "return-30-days"
    assert "2026-12-20" in str(refused.value) and "2026-12-21" in str(refused.value)
    assert counts(gw) == stored and used(gw) == before
    assert gw.order(tenant, order_id)["status"] == "released"


def test_partial_returns_add_up_and_only_the_last_one_gives_the_amount_back(env):
    gw, sandbox, tenant, service, _ = env
    order_id = released(gw, tenant, fixture_text("1210-single-line.json"))   # one line, quantity 2
    amount, before = counted(gw, tenant, order_id)
    service.return_goods(tenant, order_id, [{"gnum": 1, "quantity": "1"}], "一件破损")
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, order_id)["status"] == "returned"
    assert used(gw) == before and "annual.kept" in audit_actions(gw, order_id)
    with pytest.raises(CorrectionInvalid) as invalid:
        service.return_goods(tenant, order_id, [{"gnum": 1, "quantity": "2"}], "再退")
    assert [(p.path, p.rule) for p in invalid.value.problems] == [("$.lines[0].quantity", "return-quantity")]
    service.return_goods(tenant, order_id, None, "剩余一件也退")
    gw.dispatcher.run_until_idle()
    assert used(gw) == before - amount
    assert sorted(line["quantity"] for c in history(gw.uow_factory, tenant, order_id)["corrections"]
                  for line in c["detail"].get("lines", [])) == ["1", "1"]


# -- modification (appType 2) -------------------------------------------------------------------------------

def test_an_order_modified_before_its_inventory_is_declared(env):
    gw, sandbox, tenant, service, _ = env
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_once()                                 # order, payment, waybill declared; inventory waiting
    [(original, state, *_)] = by_type(gw, tenant, sub.order_id, "CEB311Message")
    assert state == st.DECLARED
    corrected = fixture_json("1210-single-line.json")
    corrected["batch_numbers"] = "LOT-2026-11-B"             # only the order (CEB311) carries it
    done = service.modify_order(tenant, sub.order_id, json.dumps(corrected, ensure_ascii=False))
    assert list(done.filing_ids) == ["CEB311Message"] and done.withdrawn == [] and done.order_version == 2
    new_id = done.filing_ids["CEB311Message"]
    _, state, app_type, corrects, guid = filings(gw, tenant, sub.order_id)[new_id]
    assert (state, app_type, corrects) == (st.PENDING, "2", original)
    assert guid != filings(gw, tenant, sub.order_id)[original][4]
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "released", view
    assert receipts_of(gw, tenant, sub.order_id, new_id) == ["2", "120"]
    assert [f["corrected_by"] for f in view["filings"] if f["id"] == original] == [[new_id]]
    sent = sandbox.received_bytes(guid)
    assert b"<ceb:appType>2</ceb:appType>" in sent and b"LOT-2026-11-B" in sent
    with gw.uow_factory() as uow:        # the body history: version 1 untouched, version 2 as received
        order = uow.orders.get(tenant, sub.order_id)
        assert order.body == fixture_text("1210-single-line.json")
        [version] = uow.session.scalars(select(m.OrderVersion).where(m.OrderVersion.order_id == sub.order_id)).all()
        assert version.version == 2 and json.loads(version.body)["batch_numbers"] == "LOT-2026-11-B"
    assert "order.corrected" in audit_actions(gw, sub.order_id)


def test_a_modification_that_touches_the_inventory_replaces_it_before_it_is_sent(env):
    gw, sandbox, tenant, service, _ = env
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_once()
    [(old_inventory, _, _, _, old_guid)] = by_type(gw, tenant, sub.order_id, "CEB621Message")
    corrected = fixture_json("1210-single-line.json")
    corrected["consignee"]["address"] = "北京市朝阳区建国路88号SOHO现代城5号楼1202"   # order, waybill, inventory
    done = service.modify_order(tenant, sub.order_id, json.dumps(corrected, ensure_ascii=False))
    assert set(done.filing_ids) == {"CEB311Message", "CEB511Message", "CEB621Message"}
    assert done.withdrawn == [old_inventory]
    new_inventory = done.filing_ids["CEB621Message"]
    all_ = filings(gw, tenant, sub.order_id)
    assert all_[old_inventory][1] == st.WITHDRAWN
    assert all_[new_inventory][1:4] == (st.PENDING, "1", old_inventory)       # never sent: a new appType 1
    assert all_[done.filing_ids["CEB511Message"]][2] == "2"
    with gw.uow_factory() as uow:
        row = uow.outbox.for_filing(tenant, old_inventory)
        assert row.state == "failed" and "withdrawn" in row.last_error
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    assert sandbox.deliveries(old_guid) == 0
    assert "1202" in sandbox.received_bytes(filings(gw, tenant, sub.order_id)[new_inventory][4]).decode()


def test_an_order_cannot_be_modified_once_its_inventory_was_declared(env):
    gw, sandbox, tenant, service, _ = env
    order_id = released(gw, tenant, fixture_text("1210-single-line.json"))
    corrected = fixture_json("1210-single-line.json")
    corrected["batch_numbers"] = "LOT-LATE"
    before = counts(gw)
    with pytest.raises(CorrectionRefused) as refused:
        service.modify_order(tenant, order_id, json.dumps(corrected, ensure_ascii=False))
    assert refused.value.rule == "order-inventory-declared"
    assert refused.value.refusal.customs_code == "-301011" and refused.value.refusal.confirmed
    [(order_filing, *_)] = by_type(gw, tenant, order_id, "CEB311Message")
    with pytest.raises(CorrectionRefused) as deletion:
        service.delete_filing(tenant, order_filing, "撤回订单")
    assert deletion.value.rule == "order-inventory-declared"
    assert counts(gw) == before


def test_a_modification_must_pass_intake_and_keep_the_order(env):
    gw, sandbox, tenant, service, _ = env
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_once()
    before = counts(gw)
    bad = fixture_json("1210-single-line.json")
    bad["actual_paid"] = "1.00"
    with pytest.raises(OrderInvalid) as invalid:
        service.modify_order(tenant, sub.order_id, json.dumps(bad, ensure_ascii=False))
    assert ("$.actual_paid", "actual-paid") in {(p.path, p.rule) for p in invalid.value.problems}
    other = fixture_json("1210-single-line.json")
    other["order_no"] = "HT-ANOTHER-ORDER"
    with pytest.raises(CorrectionInvalid) as foreign:
        service.modify_order(tenant, sub.order_id, json.dumps(other, ensure_ascii=False))
    assert [(p.path, p.rule) for p in foreign.value.problems] == [("$.order_no", "modify-same-order")]
    with pytest.raises(CorrectionInvalid) as same:
        service.modify_order(tenant, sub.order_id, fixture_text("1210-single-line.json"))
    assert [p.rule for p in same.value.problems] == ["modify-no-change"]
    renumbered = fixture_json("1210-single-line.json")
    renumbered["logistics"]["waybill_no"] = "ZT7800123456799"
    renumbered["logistics"]["goods_info"] = "面霜 x2 (改)"
    with pytest.raises(CorrectionInvalid) as keys_changed:
        service.modify_order(tenant, sub.order_id, json.dumps(renumbered, ensure_ascii=False))
    assert {(p.path, p.rule) for p in keys_changed.value.problems} == {("$.logistics.waybill_no", "modify-keeps-numbers")}
    assert counts(gw) == before


# -- deletion (appType 3) -------------------------------------------------------------------------------------

def test_an_inventory_deleted_before_it_is_concluded(env):
    gw, sandbox, tenant, service, _ = env
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_once()
    gw.dispatcher.run_once()                                  # the inventory is sent and declared (2)
    [(inventory, state, *_)] = by_type(gw, tenant, sub.order_id, "CEB621Message")
    assert state == st.DECLARED
    done = service.delete_filing(tenant, inventory, "申报有误，删除清单")
    deletion = done.filing_ids["CEB621Message"]
    assert filings(gw, tenant, sub.order_id)[deletion][2:4] == ("3", inventory)
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "deleted" and "CEB621Message" in view["status_reason"]
    assert receipts_of(gw, tenant, sub.order_id, deletion) == ["2", "120"]
    infos = [r["info"] for f in gw.order(tenant, sub.order_id)["filings"] if f["id"] == deletion for r in f["receipts"]]
    assert infos[0].startswith("删除申报成功") and infos[1] == "删除成功"


# -- what the sandbox itself refuses ----------------------------------------------------------------------

def _sign(gw, root):
    return gw.declarer.signer_for(gw.key).sign(root, gw.key)


def _answers(sandbox, key):
    return [(e.status_code, e.info) for r in sandbox.fetch_receipts(None) for e in parse_receipt(r.body)
            if e.business_key == key]


def test_the_sandbox_applies_the_state_checks_customs_applies(env):
    gw, sandbox, tenant, service, _ = env
    order_id = released(gw, tenant, fixture_text("1210-single-line.json"))
    order = parse_order(fixture_text("1210-single-line.json"))
    transfer = Transfer("4601980ABC", "Tenant A 有限公司", "DXPENT0000458763")
    # an order modified after its inventory was declared: -301011
    ctx = FilingContext(guid="5A4D8B00-0000-4000-9000-00000000F311", app_time=gw.clock.now(), transfer=transfer,
                        app_type="2")
    sandbox.send(OutgoingMessage(ctx.guid, "CEB311Message", _sign(gw, BUILDERS["CEB311Message"](order, ctx))))
    key = f"order:{order.platform.code}|{order.merchant.code}|{order.order_no}"
    assert any(code == "-301011" for code, _ in _answers(sandbox, key))
    # a cancellation naming no released inventory: -623005
    ctx = FilingContext(guid="5A4D8B00-0000-4000-9000-00000000F623", app_time=gw.clock.now(), transfer=transfer)
    ref = InventoryRef("GWNOSUCHINVENTORY001", "460420269000000099")
    sandbox.send(OutgoingMessage(ctx.guid, "CEB623Message", _sign(gw, build_ceb623(order, ctx, ref, "取消"))))
    assert [code for code, _ in _answers(sandbox, "inventory-cancel:GWNOSUCHINVENTORY001")] == ["-623005"]
    assert gw.order(tenant, order_id)["status"] == "released"


# -- export: cancellation (CEB605) and return (CEB213) ------------------------------------------------------

def test_export_cancellation_and_return(env):
    gw, sandbox, tenant, service, _ = env
    simple = released(gw, tenant, (EXPORT / "9610-simplified-air-usa.json").read_text("utf-8"))
    done = service.cancel(tenant, simple, "客户取消订单，货物未离境")
    assert list(done.filing_ids) == ["CEB605Message"]
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, simple)["status"] == "cancelled"
    [(_, state, *_)] = by_type(gw, tenant, simple, "CEB603Message")
    assert state == st.CANCELLED

    departed = released(gw, tenant, (EXPORT / "9610-summary-sea-germany.json").read_text("utf-8"))
    with pytest.raises(CorrectionRefused) as refused:
        service.cancel_export(tenant, departed, "取消")
    assert refused.value.rule == "cancel-departed"

    zone = released(gw, tenant, (EXPORT / "1210-special-zone-japan.json").read_text("utf-8"))
    with pytest.raises(CorrectionInvalid) as no_trip:             # the order names no conveyance for the way back
        service.return_export(tenant, zone, None, "买家拒收")
    assert {p.path for p in no_trip.value.problems} == {"$.shipment.conveyance_name", "$.shipment.voyage_no"}
    with pytest.raises(CorrectionInvalid) as wrong_way:
        service.return_goods(tenant, zone, None, "退货")
    assert [p.rule for p in wrong_way.value.problems] == ["direction"]
    done = service.return_export(tenant, zone, [{"gnum": 1, "quantity": "1"}], "买家拒收，退运回国",
                                 {"conveyance_name": "NH919", "voyage_no": "NH919", "port_code": "2233"})
    assert done.due_by == date(2027, 11, 20)                      # within 1 year of the export release
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, zone)["status"] == "returned"
    [(return_id, _, _, _, guid)] = by_type(gw, tenant, zone, "CEB213Message")
    assert receipts_of(gw, tenant, zone, return_id) == ["2", "120", "800"]
    assert b"<ceb:coElNo>" in sandbox.received_bytes(guid) and b"<ceb:ieFlag>I</ceb:ieFlag>" in sandbox.received_bytes(guid)
    gw.clock.start += timedelta(days=366)                          # 2027-11-21
    with pytest.raises(CorrectionRefused) as late:
        service.return_export(tenant, zone, [{"gnum": 1, "quantity": "1"}], "再退",
                              {"conveyance_name": "NH919", "voyage_no": "NH919"})
    assert late.value.rule == "export-return-1-year"


def test_an_export_order_modified_before_and_after_its_inventory_is_declared(env):
    gw, sandbox, tenant, service, _ = env
    text = (EXPORT / "9610-simplified-air-usa.json").read_text("utf-8")
    sub = gw.submit(tenant, text)
    gw.dispatcher.run_once()
    corrected = json.loads(text)
    corrected["note"] = "请加急发货"                           # in the order (303) and the inventory (603)
    done = service.modify_order(tenant, sub.order_id, json.dumps(corrected, ensure_ascii=False))
    assert set(done.filing_ids) == {"CEB303Message", "CEB603Message"} and len(done.withdrawn) == 1
    all_ = filings(gw, tenant, sub.order_id)
    assert all_[done.filing_ids["CEB303Message"]][2] == "2" and all_[done.filing_ids["CEB603Message"]][2] == "1"
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    corrected["note"] = "再改"
    with pytest.raises(CorrectionRefused) as refused:
        service.modify_order(tenant, sub.order_id, json.dumps(corrected, ensure_ascii=False))
    assert (refused.value.rule, refused.value.refusal.customs_code) == ("order-inventory-declared", "-301011")


# -- the API --------------------------------------------------------------------------------------------

def test_api_cancel_modify_return_delete_and_history(env):
    gw, sandbox, tenant, service, key = env
    b_tenant, b_key = add_tenant(gw, "Tenant B", "4601980XYZ")
    client = create_app(gw, {"TESTING": True}).test_client()
    a = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    order_id = released(gw, tenant, fixture_text("1210-single-line.json"))

    corrected = fixture_json("1210-single-line.json")
    corrected["batch_numbers"] = "LOT-API"
    r = client.post(f"/v1/orders/{order_id}/modify", data=json.dumps(corrected, ensure_ascii=False).encode(), headers=a)
    assert r.status_code == 409
    assert {k: r.get_json()[k] for k in ("title", "rule", "customs_code")} == {
        "title": "Correction refused", "rule": "order-inventory-declared", "customs_code": "-301011"}
    bad = dict(corrected, actual_paid="1.00")
    r = client.post(f"/v1/orders/{order_id}/modify", data=json.dumps(bad, ensure_ascii=False).encode(), headers=a)
    assert r.status_code == 422 and r.get_json()["title"] == "Order invalid"

    r = client.post(f"/v1/orders/{order_id}/cancel", data=b"{}", headers=a)
    assert r.status_code == 422 and r.get_json()["problems"][0]["rule"] == "cancel-reason"
    r = client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "x", "why": "y"}, headers=a)
    assert r.status_code == 422 and r.get_json()["problems"][0]["path"] == "$.why"
    r = client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "买家取消"},
                    headers={"Authorization": f"Bearer {b_key}"})
    assert r.status_code == 404                                    # another tenant's order
    r = client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "买家取消"}, headers=a)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert list(body["filings"]) == ["CEB623Message"] and body["links"]["history"].endswith("/history")
    gw.dispatcher.run_until_idle()
    assert client.get(f"/v1/orders/{order_id}", headers=a).get_json()["status"] == "cancelled"

    r = client.post(f"/v1/orders/{order_id}/return", json={"reason": "退货", "lines": [{"gnum": 1}]}, headers=a)
    assert r.status_code == 409 and r.get_json()["rule"] == "return-state"
    [(order_filing, *_)] = by_type(gw, tenant, order_id, "CEB311Message")
    r = client.post(f"/v1/filings/{order_filing}/delete", json={}, headers=a)
    assert r.status_code == 409 and r.get_json()["rule"] == "order-inventory-declared"

    h = client.get(f"/v1/orders/{order_id}/history", headers=a).get_json()
    assert [c["kind"] for c in h["corrections"]] == ["cancel"]
    assert h["corrections"][0]["reason"] == "买家取消" and h["corrections"][0]["state"] == st.CONCLUDED
    inventory = next(f for f in h["filings"] if f["message_type"] == "CEB621Message")
    assert inventory["state"] == st.CANCELLED and inventory["corrected_by"] == [body["filings"]["CEB623Message"]]
    assert [v["version"] for v in h["versions"]] == [1]
    assert client.get(f"/v1/orders/{order_id}/history", headers={"Authorization": f"Bearer {b_key}"}).status_code == 404
