"""The other parties' filings answered by the sandbox as customs would (docs/site-filings.md "Answered by
the sandbox"): a waybill status (CEB513 → CEB514), an entry list (CEB711 → CEB712) and a return tally
(CEB215 → CEB216) of parcels customs knows reach their final good state end to end through the dispatcher
and the in-process sandbox; one about a waybill customs never received ends "rejected" with its reason."""
import json
from datetime import timedelta

import pytest
from lxml import etree
from sqlalchemy import select

from gateway.adapters.sandbox import government
from gateway.declarations.common import CEB_NS
from gateway.domain import status as st
from gateway.store import models as m
from tests.helpers import ROOT, START, add_tenant, fixture_enterprises, make_gateway

INPUTS = ROOT / "fixtures" / "site-filings"
ORDERS = ROOT / "fixtures" / "orders"
NS = {"c": CEB_NS}
PARTIES = ("1101180326", "1101110326", "1105910159", "4403980S2K", "4403980W6U", "4403980R3S", "4403960M8Q")


def data(kind):
    return json.loads((INPUTS / f"{kind}.json").read_text("utf-8"))


def order_fixture(path):
    return json.loads((ORDERS / path).read_text("utf-8"))


@pytest.fixture
def env(tmp_path, sqlite_url, signing_key):
    gw, sandbox = make_gateway(tmp_path, sqlite_url, signing_key)
    gw.clock.start = START + timedelta(days=14)      # after the fixtures' dates
    tenant, _ = add_tenant(gw, enterprises=list(fixture_enterprises()) + list(PARTIES))
    return gw, sandbox, tenant


def filings_of(gw, order_id):
    with gw.uow_factory() as uow:
        found = uow.session.scalars(select(m.Filing).where(m.Filing.order_id == order_id)
                                    .order_by(m.Filing.id)).all()
        uow.session.expunge_all()
        return found


def released_order(gw, tenant, path):
    """An order submitted and run through the sandbox to released."""
    sub = gw.submit(tenant, order_fixture(path))
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    return sub


def receipts_of(sandbox, message_type):
    """Every return entity of ``message_type`` receipts the sandbox issued, as dicts by local name."""
    found = []
    for raw in sandbox.fetch_receipts(None):
        root = etree.fromstring(raw.body)
        if etree.QName(root).localname == message_type:
            found += [{etree.QName(c).localname: c.text for c in entity} for entity in root]
    return found


def import_waybill():
    order = order_fixture("valid/9610-minimal.json")
    lg = order["logistics"]
    return lg["company"], lg["waybill_no"], lg["bill_no"]


def test_a_waybill_status_of_a_waybill_customs_holds_is_released(env):
    gw, sandbox, tenant = env
    released_order(gw, tenant, "valid/9610-minimal.json")
    carrier, waybill_no, _ = import_waybill()
    filed = gw.file_site(tenant, "logistics-status", {
        "logistics": carrier, "statuses": [{"waybill_no": waybill_no, "signed_at": "2026-11-30T15:20:11+08:00"}]})
    gw.dispatcher.run_until_idle()
    [f] = filings_of(gw, filed.order_id)
    assert (f.state, f.last_status_code) == (st.CONCLUDED, "399")
    assert gw.order(tenant, filed.order_id)["status"] == "released"
    answers = [r for r in receipts_of(sandbox, "CEB514Message") if r["logisticsNo"] == waybill_no]
    assert [(r["guid"], r["logisticsCode"], r["logisticsStatus"], r["returnStatus"]) for r in answers] == [
        (f.guid, carrier["code"], "S", "2"), (f.guid, carrier["code"], "S", "399")]


def test_an_entry_list_of_known_parcels_is_released_and_numbered(env):
    gw, sandbox, tenant = env
    released_order(gw, tenant, "valid/9610-minimal.json")
    carrier, waybill_no, bill_no = import_waybill()
    d = data("entry-list")
    d.update(logistics=carrier, bill_no=bill_no, parcels=[{"waybill_no": waybill_no}])
    filed = gw.file_site(tenant, "entry-list", d)
    gw.dispatcher.run_until_idle()
    [f] = filings_of(gw, filed.order_id)
    assert (f.state, f.last_status_code) == (st.CONCLUDED, "399")
    view = gw.order(tenant, filed.order_id)
    assert view["status"] == "released"
    assert [r["status_code"] for r in view["filings"][0]["receipts"]] == ["2", "120", "399"]
    answers = receipts_of(sandbox, "CEB712Message")
    assert [(r["guid"], r["copNo"], r["customsCode"], r["operatorCode"]) for r in answers] == 3 * [
        (f.guid, d["entry_no"], d["customs_code"], d["operator"]["code"])]
    pre_nos = {r["preNo"] for r in answers}
    assert len(pre_nos) == 1 and len(pre_nos.pop()) == 18
    assert [r.get("rkdNo") for r in answers][0] is None                  # customs numbers it at 120
    rkd = {r["rkdNo"] for r in answers[1:]}
    assert len(rkd) == 1 and next(iter(rkd)).startswith(d["customs_code"])


@pytest.mark.parametrize("slimmed", [False, True], ids=["held-in-full", "slimmed-since"])
def test_a_return_tally_of_a_released_export_inventory_is_released(env, monkeypatch, slimmed):
    """Also when the sandbox has slimmed the inventory's message since (its memory bound): the tally finds
    the inventory by its number, not by walking the messages it still holds in full."""
    gw, sandbox, tenant = env
    export = released_order(gw, tenant, "export/valid/9610-simplified-air-usa.json")
    [inventory] = [r for r in receipts_of(sandbox, "CEB604Message") if r["returnStatus"] == "800"]
    invt_no = inventory["invtNo"]
    assert invt_no and export.order_id
    if slimmed:
        monkeypatch.setattr(government, "MAX_MESSAGES", 0)    # every finished message is slimmed
        sandbox._forget()                                      # as after MAX_MESSAGES more messages
        # the inventory's message really is slimmed: no message the sandbox holds has its track any more
        assert not any(t.invt_no == invt_no for s in sandbox._submissions.values() for t in s.tracks)
    d = data("return-tally")
    d["parcels"] = [{"waybill_no": "HYT2026112000431", "invt_no": invt_no, "return_no": "RT2026120300001"}]
    filed = gw.file_site(tenant, "return-tally", d)
    gw.dispatcher.run_until_idle()
    [f] = filings_of(gw, filed.order_id)
    assert (f.state, f.last_status_code) == (st.CONCLUDED, "399")
    assert gw.order(tenant, filed.order_id)["status"] == "released"
    answers = receipts_of(sandbox, "CEB216Message")
    assert [(r["guid"], r["operatorCode"], r["logisticsCode"], r["logisticsNo"], r["coElNo"], r["returnStatus"])
            for r in answers] == [
        (f.guid, d["operator"]["code"], d["logistics"]["code"], "HYT2026112000431", "RT2026120300001", s)
        for s in ("2", "399")]


def test_a_waybill_status_of_a_waybill_customs_never_received_is_rejected_with_the_reason(env):
    gw, sandbox, tenant = env
    filed = gw.file_site(tenant, "logistics-status", data("logistics-status"))
    gw.dispatcher.run_until_idle()
    filings = filings_of(gw, filed.order_id)
    assert {(f.state, f.last_status_code) for f in filings} == {(st.REJECTED, "100")}
    view = gw.order(tenant, filed.order_id)
    assert view["status"] == "rejected"
    assert "运单不存在" in view["status_reason"] and "L2026112000131" in view["status_reason"]
    assert not receipts_of(sandbox, "CEB900Message")                 # answered, not "unsupported"


def test_the_sandbox_refuses_what_customs_does_not_hold(env):
    """An entry list of unknown parcels, a tally of an export inventory never numbered: each refused (100)
    with every reason, and a second status for a waybill already signed for."""
    gw, sandbox, tenant = env
    released_order(gw, tenant, "valid/9610-minimal.json")
    carrier, waybill_no, bill_no = import_waybill()
    entry = data("entry-list")
    entry.update(logistics=carrier, bill_no="OTHER-BILL",
                 parcels=[{"waybill_no": waybill_no}, {"waybill_no": "NO-SUCH-WAYBILL"}])
    tally = gw.file_site(tenant, "return-tally", data("return-tally"))
    listed = gw.file_site(tenant, "entry-list", entry)
    status = {"logistics": carrier, "statuses": [{"waybill_no": waybill_no, "signed_at": "2026-11-30T15:20:11+08:00"}]}
    first = gw.file_site(tenant, "logistics-status", status)
    gw.dispatcher.run_until_idle()
    again = gw.file_site(tenant, "logistics-status",
                         {**status, "statuses": [{**status["statuses"][0], "note": "again"}]})
    gw.dispatcher.run_until_idle()
    reasons = {name: gw.order(tenant, filed.order_id) for name, filed in
               (("tally", tally), ("entry", listed), ("first", first), ("again", again))}
    assert {name: v["status"] for name, v in reasons.items()} == {
        "tally": "rejected", "entry": "rejected", "first": "released", "again": "rejected"}
    assert "原出口清单不存在" in reasons["tally"]["status_reason"]
    entry_reason = reasons["entry"]["status_reason"]
    assert "NO-SUCH-WAYBILL" in entry_reason and "运单提运单号与入库明细单不一致" in entry_reason
    assert "运单状态已申报" in reasons["again"]["status_reason"]


def test_the_http_face_answers_the_same_bytes_the_same_way(env):
    """The bytes the gateway stored for an import order's waybill (CEB511) and a waybill status (CEB513),
    posted to the HTTP face of another sandbox (``gateway sandbox serve``'s WSGI app): CEB514 2 then 399."""
    import base64

    from werkzeug.test import Client

    from gateway.adapters.sandbox import SandboxGovernment
    from gateway.adapters.sandbox.http_face import create_http_app
    from gateway.adapters.sandbox.server import SandboxServer
    from gateway.ports import FixedClock, SequentialIds

    gw, _, tenant = env
    order = released_order(gw, tenant, "valid/9610-minimal.json")
    carrier, waybill_no, _ = import_waybill()
    filed = gw.file_site(tenant, "logistics-status", {
        "logistics": carrier, "statuses": [{"waybill_no": waybill_no, "signed_at": "2026-11-30T15:20:11+08:00"}]})
    [waybill] = [f for f in filings_of(gw, order.order_id) if f.message_type == "CEB511Message"]
    [status] = filings_of(gw, filed.order_id)
    government = SandboxGovernment(FixedClock(START, step_seconds=1), SequentialIds(prefix="5A4D8B00-0000-4000-9001"))
    client = Client(create_http_app(SandboxServer(government)))
    for f in (waybill, status):
        r = client.post("/messages", data=bytes(f.signed_bytes),
                        headers={"X-Message-Id": f.guid, "X-Message-Type": f.message_type})
        assert (r.status_code, r.get_json()["status"]) == (200, "accepted")
    answers, cursor = [], ""
    for _ in range(4):
        r = client.get(f"/receipts?since={cursor}")
        for item in r.get_json()["receipts"]:
            cursor = item["cursor"]
            root = etree.fromstring(base64.b64decode(item["body"]))
            if etree.QName(root).localname == "CEB514Message":
                answers += [(e.findtext("c:guid", namespaces=NS), e.findtext("c:returnStatus", namespaces=NS))
                            for e in root]
    assert answers == [(status.guid, "2"), (status.guid, "399")]
