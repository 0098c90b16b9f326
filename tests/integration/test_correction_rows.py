"""A correction's filing is stored where every new filing is (gateway/service/filing_rows.FilingRows): its
``filings`` row with the appType sent and the filing it changes, its outbox row on the channel the
tenant's lookup gives for the agency of what it changes (no channel: the "prepared, not transmitted"
record instead), its ``filing.signed`` record naming "app_type" and "corrects"; then the correction
record and ``correction.filed`` (docs/corrections.md). On SQLite and PostgreSQL."""
import json

import pytest
from sqlalchemy import func, select

from gateway.domain import status as st
from gateway.service.corrections import CorrectionService
from gateway.service.declare import BuiltFiling
from gateway.service.filing_rows import FilingRows
from gateway.store import models as m
from tests.helpers import add_tenant, fixture_json, fixture_text, make_gateway

SIGNED_KEYS = ["message_type", "guid", "sha256", "app_type", "corrects"]


@pytest.fixture
def env(tmp_path, db_url, signing_key):
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    return gw, tenant


def service(gw, channel_for):
    return CorrectionService(gw.uow_factory, gw.declarer, gw.key_for or gw.key, gw.clock, gw.ids,
                             keeper=gw.dispatcher.keeper, adapter=channel_for)


def last_audit_id(gw) -> int:
    with gw.uow_factory() as uow:
        return uow.session.scalar(select(func.max(m.AuditEvent.id))) or 0


def audit_since(gw, mark: int) -> list[tuple[str, str, dict]]:
    with gw.uow_factory() as uow:
        return [(e.subject_id, e.action, json.loads(e.detail)) for e in uow.session.scalars(
            select(m.AuditEvent).where(m.AuditEvent.id > mark).order_by(m.AuditEvent.id))]


def stored(gw, filing_id):
    with gw.uow_factory() as uow:
        f = uow.session.get(m.Filing, filing_id)
        row = uow.outbox.for_filing(f.tenant_id, f.id)
        correction = uow.session.scalars(select(m.Correction).where(m.Correction.filing_id == filing_id)).one()
        return ((f.state, f.app_type, f.corrects_id, f.agency, f.created_at == f.updated_at),
                None if row is None else (row.adapter, row.state, row.attempts),
                (correction.target_id, correction.kind))


def released(gw, tenant) -> str:
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    return sub.order_id


def test_a_cancellation_goes_out_on_the_channel_its_lookup_gives(env):
    gw, tenant = env
    order_id = released(gw, tenant)
    calls = []

    def channel_for(tenant_id, *, agency, uow):
        calls.append((tenant_id, agency, uow is not None))
        return gw.channel_for(tenant_id, agency=agency, uow=uow)

    with gw.uow_factory() as uow:
        [inventory] = [f.id for f in uow.filings.for_order(tenant, order_id) if f.message_type == "CEB621Message"]
    mark = last_audit_id(gw)
    done = service(gw, channel_for).cancel_inventory(tenant, order_id, "买家取消订单，商品未出区")
    fid, [cid] = done.filing_id, done.correction_ids
    assert calls == [(tenant, "customs", True)]        # looked up once, in the storing transaction
    assert stored(gw, fid) == ((st.PENDING, "1", inventory, "customs", True), ("sandbox", "pending", 0),
                               (inventory, "cancel"))
    records = audit_since(gw, mark)
    assert [(s, a) for s, a, _ in records] == [(fid, "filing.signed"), (order_id, "correction.filed")]
    signed, filed = records[0][2], records[1][2]
    assert sorted(signed) == sorted(SIGNED_KEYS) and (signed["app_type"], signed["corrects"]) == ("1", inventory)
    assert (filed["correction_id"], filed["filing_id"], filed["target_id"]) == (cid, fid, inventory)


def test_a_correction_without_channel_is_kept_not_transmitted(env):
    gw, tenant = env
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_once()                           # order, payment, waybill declared; inventory waiting
    corrected = fixture_json("1210-single-line.json")
    corrected["consignee"]["address"] = "北京市朝阳区建国路88号SOHO现代城5号楼1202"   # order, waybill, inventory
    mark = last_audit_id(gw)
    done = service(gw, lambda tenant_id, *, agency, uow: None).modify_order(
        tenant, sub.order_id, json.dumps(corrected, ensure_ascii=False))
    assert set(done.filing_ids) == {"CEB311Message", "CEB511Message", "CEB621Message"} and done.withdrawn
    for message_type, fid in done.filing_ids.items():
        (state, app_type, corrects, _, _), outbox, (target, kind) = stored(gw, fid)
        assert (state, outbox, corrects == target) == (st.NOT_TRANSMITTED, None, True)
        assert (app_type, kind) == (("1", "replace") if message_type == "CEB621Message" else ("2", "modify"))
    records = audit_since(gw, mark)
    for fid in done.filing_ids.values():                # each filing's three records, in this order
        mine = [(a, i) for i, (s, a, d) in enumerate(records)
                if s == fid or (a == "correction.filed" and d["filing_id"] == fid)]
        assert [a for a, _ in mine] == ["filing.not_transmitted", "filing.signed", "correction.filed"]
        assert [i for _, i in mine] == list(range(mine[0][1], mine[0][1] + 3))
        assert sorted(records[mine[1][1]][2]) == sorted(SIGNED_KEYS)
    assert records[-1][1] == "order.corrected"


def test_new_filings_and_corrections_are_not_mixed_in_one_insert(env):
    gw, tenant = env
    built = BuiltFiling(message_type="CEB623Message", agency="customs", sequence=1, guid="G-1", business_key="k",
                        signed_bytes=b"<x/>", sha256="0" * 64)
    with gw.uow_factory() as uow:
        rows = FilingRows(uow, tenant, "sandbox", gw.clock.now(), {})
        rows.add(gw.ids, "order-1", [built])
        with pytest.raises(ValueError, match="written separately"):
            rows.add(gw.ids, "order-1", [built], app_type="2", corrects_id="F-1")
        rows = FilingRows(uow, tenant, "sandbox", gw.clock.now(), {})
        rows.add(gw.ids, "order-1", [built], app_type="2", corrects_id="F-1")
        with pytest.raises(ValueError, match="written separately"):
            rows.add(gw.ids, "order-1", [built])
