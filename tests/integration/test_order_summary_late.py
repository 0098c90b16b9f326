"""The CEB701 of a statisticsFlag-B export order built late (docs/export.md "The order's summary"): the
dispatcher holds it until the CEB604 receipt numbers the order's inventory, then builds it listing that
invtNo (no time window), signs it with the tenant's key and sends it; the evidence bundle and a replay
still agree with what was sent."""
from __future__ import annotations

import json

import pytest
from lxml import etree
from sqlalchemy import select

from gateway.domain import status as st
from gateway.store import models as m
from tests.helpers import ROOT, add_tenant, make_gateway

EXPORT = ROOT / "fixtures" / "orders" / "export" / "valid"
FULL = "9610-summary-sea-germany.json"
NS = {"c": "http://www.chinaport.gov.cn/ceb"}


@pytest.fixture
def env(tmp_path, db_url, signing_key):
    gw, sandbox = make_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    return gw, sandbox, tenant


def filings(gw, order_id) -> dict:
    with gw.uow_factory() as uow:
        found = {f.message_type: f for f in uow.session.scalars(select(m.Filing).where(m.Filing.order_id == order_id))}
        uow.session.expunge_all()
        return found


def sandbox_invt_no(sandbox) -> str:
    numbers = set()
    for raw in sandbox.fetch_receipts(None):
        root = etree.fromstring(raw.body)
        if etree.QName(root).localname == "CEB604Message":
            numbers |= {t for t in (e.findtext("c:invtNo", namespaces=NS) for e in root) if t}
    [number] = numbers
    return number


def test_the_summary_waits_for_the_inventory_number_and_lists_it(env):
    from gateway.service.dispatch import RoundResult

    gw, sandbox, tenant = env
    sub = gw.submit(tenant, (EXPORT / FULL).read_text("utf-8"))
    planned = filings(gw, sub.order_id)["CEB701Message"]
    assert b"startTime" in bytes(planned.signed_bytes)            # planned with its one-second window
    for _ in range(3):                                             # everything sent that may be, no receipts
        gw.dispatcher.send_due(RoundResult())
    now = filings(gw, sub.order_id)
    assert now["CEB603Message"].state == st.SENT
    assert now["CEB701Message"].state == st.PENDING                # held: the inventory has no number yet
    assert sandbox.received_bytes(planned.guid) is None
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "released", view["status_reason"]
    summary = filings(gw, sub.order_id)["CEB701Message"]
    assert (summary.guid, summary.business_key, summary.state) == (planned.guid, planned.business_key, st.CONCLUDED)
    sent = sandbox.received_bytes(summary.guid)
    assert sent == bytes(summary.signed_bytes) != bytes(planned.signed_bytes)
    root = etree.fromstring(sent)
    invt_no = sandbox_invt_no(sandbox)
    assert [e.text for e in root.iterfind(".//c:SummaryApplyList/c:invtNo", NS)] == [invt_no]
    assert root.find(".//c:startTime", NS) is None and root.find(".//c:endTime", NS) is None
    assert json.loads(summary.built_with)["summary"]["invt_no"] == invt_no
    with gw.uow_factory() as uow:
        signed = [e.detail for e in uow.audit.for_subject("filing", summary.id) if e.action == "filing.signed"]
    details = [json.loads(d) for d in signed]
    assert [d["sha256"] for d in details] == [planned.sha256, summary.sha256]
    assert details[1]["rebuilt"] == planned.sha256 and details[1]["invt_no"] == invt_no
    # the sandbox's summary result covers the inventory listed
    history = {f["message_type"]: [r["status_code"] for r in f["receipts"]] for f in view["filings"]}
    assert history["CEB701Message"] == ["2", "399", "A"]


def test_a_refused_inventory_leaves_the_summary_unsent_and_failed(env):
    from gateway.adapters.sandbox import SandboxScript

    gw, sandbox, tenant = env
    data = json.loads((EXPORT / FULL).read_text("utf-8"))
    sandbox.script = SandboxScript().reject(data["order_no"], "申报要素不全 (test)", on="CEB603Message")
    sub = gw.submit(tenant, data)
    gw.dispatcher.run_until_idle()
    now = filings(gw, sub.order_id)
    assert (now["CEB603Message"].state, now["CEB701Message"].state) == (st.REJECTED, st.REJECTED)
    assert sandbox.received_bytes(now["CEB701Message"].guid) is None
    assert b"startTime" in bytes(now["CEB701Message"].signed_bytes)     # never built again: nothing numbered


def test_the_evidence_bundle_verifies_and_a_replay_is_identical(env, signing_key, tmp_path):
    from gateway.audit.bundle import verify_bundle
    from gateway.service import audit as audit_service
    from gateway.service.evidence import export_order
    from gateway.service.replay import replay_order

    gw, _, tenant = env
    sub = gw.submit(tenant, (EXPORT / FULL).read_text("utf-8"))
    gw.dispatcher.run_until_idle()
    assert "summary" in json.loads(filings(gw, sub.order_id)["CEB701Message"].built_with)
    audit_service.make_checkpoint(gw.uow_factory, signing_key, gw.clock)
    path = export_order(gw.uow_factory, signing_key, gw.clock, sub.order_id, tmp_path / "order.zip").path
    report = verify_bundle(path, trusted=[signing_key.certificate])
    assert report.ok, [str(f) for f in report.failures]
    replay = replay_order(gw.uow_factory, sub.order_id, key=signing_key, tenant_id=tenant,
                          current_versions=gw.declarer.built_with(signing_key))
    assert replay.identical, replay.lines()


def test_held_summaries_never_fill_a_batch(env):
    """A held CEB701 is left out of the claim: with a batch of one, the next order's filings still go."""
    from gateway.service.dispatch import DeliveryPolicy, Dispatcher, RoundResult

    gw, sandbox, tenant = env
    one = Dispatcher(gw.uow_factory, gw.adapters, gw.clock, policy=DeliveryPolicy(batch_size=1),
                     summaries=gw.dispatcher.summaries)
    sub = gw.submit(tenant, (EXPORT / FULL).read_text("utf-8"))
    for _ in range(12):
        one.send_due(RoundResult())
    held = filings(gw, sub.order_id)["CEB701Message"]
    assert held.state == st.PENDING and filings(gw, sub.order_id)["CEB603Message"].state == st.SENT
    other = gw.submit(tenant, (EXPORT / "9610-simplified-air-usa.json").read_text("utf-8"))
    result = RoundResult()
    one.send_due(result)
    assert result.sent == 1 and result.held == 0
    assert any(f.state == st.SENT for f in filings(gw, other.order_id).values())


def test_summaries_built_in_one_pass_look_the_tenant_key_up_once(env):
    """Three held summaries of one tenant, numbered together: one key lookup for the pass, each built and sent."""
    from gateway.service.dispatch import RoundResult

    gw, sandbox, tenant = env
    order = json.loads((EXPORT / FULL).read_text("utf-8"))
    subs = []
    for i in range(3):
        o = json.loads(json.dumps(order))
        o["order_no"] = f"{order['order_no']}-{i}"
        o["payment"]["transaction_no"] = f"{order['payment']['transaction_no']}{i}"
        o["logistics"]["waybill_no"] = f"{order['logistics']['waybill_no']}{i}"
        subs.append(gw.submit(tenant, json.dumps(o, ensure_ascii=False)))
    summaries = gw.dispatcher.summaries
    chooser, asked = summaries.key, []
    summaries.key = lambda tenant_id: asked.append(tenant_id) or chooser(tenant_id)
    for _ in range(4):                                             # sent, no receipts: the summaries wait
        gw.dispatcher.send_due(RoundResult())
    assert all(filings(gw, s.order_id)["CEB701Message"].state == st.PENDING for s in subs)
    gw.dispatcher.run_until_idle()
    assert [gw.order(tenant, s.order_id)["status"] for s in subs] == ["released"] * 3
    built = [json.loads(filings(gw, s.order_id)["CEB701Message"].built_with)["summary"]["invt_no"] for s in subs]
    assert len(set(built)) == 3                                    # each lists its own inventory
    assert asked == [tenant] * len(asked) and 1 <= len(asked) < 3, asked    # not once per summary
