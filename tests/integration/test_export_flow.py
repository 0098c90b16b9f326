"""Export (9610, 1210/1239) end to end on a real database (SQLite and PostgreSQL): submit an export order
through the service -> plan, build, sign -> store with outbox -> dispatch to the sandbox government ->
receipts (304/404/506/604/608/508/510/702 and the CEB792 summary result) -> status. Plus the sandbox's
export checks driven directly, and `gateway declare` on an export order file."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from gateway import cli, schemas
from gateway.adapters.sandbox import SandboxGovernment, SandboxScript
from gateway.declarations.builders import BUILDERS
from gateway.declarations.common import FilingContext, Transfer
from gateway.declarations.receipts import parse_receipt
from gateway.domain.parse import parse_order
from gateway.domain.planning import plan
from gateway.domain.problems import OrderInvalid
from gateway.ports import FixedClock, OutgoingMessage, SequentialIds
from gateway.signing import XmlSigner, verify
from gateway.store import models as m
from tests.helpers import ROOT, add_tenant, make_gateway

EXPORT = ROOT / "fixtures" / "orders" / "export" / "valid"
FULL = "9610-summary-sea-germany.json"
SIMPLE = "9610-simplified-air-usa.json"
OFFICIAL_XSD = Path(__file__).resolve().parents[3] / "shared/reference/ceb-202205/xsd/ceb-export-202205.xsd"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone(timedelta(hours=8)))
NS = {"c": "http://www.chinaport.gov.cn/ceb"}


def export_text(name: str) -> str:
    return (EXPORT / name).read_text("utf-8")


def count(gw, model):
    with gw.uow_factory() as uow:
        return uow.session.scalar(select(func.count()).select_from(model))


def history(view) -> dict[str, list[str]]:
    return {f["message_type"]: [r["status_code"] for r in f["receipts"]] for f in view["filings"]}


@pytest.fixture
def gw_and_sandbox(tmp_path, db_url, signing_key):
    """On SQLite and on PostgreSQL."""
    return make_gateway(tmp_path, db_url, signing_key)


@pytest.fixture
def gw_on_sqlite(tmp_path, sqlite_url, signing_key):
    """SQLite only: what these tests check does not depend on the database."""
    return make_gateway(tmp_path, sqlite_url, signing_key)


# -- through the service -------------------------------------------------------------------------------

def test_summary_export_reaches_released_with_every_receipt(gw_and_sandbox):
    gw, sandbox = gw_and_sandbox
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, export_text(FULL))
    assert sub.created and set(sub.filing_ids) == {
        "CEB303Message", "CEB403Message", "CEB505Message", "CEB603Message", "CEB607Message", "CEB507Message",
        "CEB509Message", "CEB701Message",
        "InspectionRecord", "RebateRecord", "FxRecord"}       # food-contact goods (监管条件 B, S); rebate data; FX
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "in_progress" and view["direction"] == "export"
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "released", view
    assert history(view) == {
        "CEB303Message": ["2", "120"], "CEB403Message": ["2", "120"], "CEB505Message": ["2", "120"],
        "CEB607Message": ["2", "120"], "CEB507Message": ["2", "120"], "CEB509Message": ["2", "120"],
        "CEB603Message": ["2", "120", "399", "800"],
        "CEB701Message": ["2", "399", "A"],             # A: the CEB792 summary result's decState
        "InspectionRecord": ["accepted", "released"], "RebateRecord": ["accepted", "released"],
        "FxRecord": ["accepted", "released"],
    }
    assert view["agencies"] == {"customs": "released", "inspection": "released", "tax": "released", "fx": "released"}
    summary = next(f for f in view["filings"] if f["message_type"] == "CEB701Message")
    assert summary["state"] == "concluded"
    result = summary["receipts"][-1]
    assert result["message_type"] == "CEB792Message"
    assert "sumNo S2026112" in result["info"] and "declSeqNo 5316" in result["info"]


def test_every_export_fixture_is_released_and_every_receipt_is_valid(gw_and_sandbox):
    gw, sandbox = gw_and_sandbox
    tenant, _ = add_tenant(gw)
    ids = {p.name: gw.submit(tenant, p.read_text("utf-8")).order_id for p in sorted(EXPORT.glob("*.json"))}
    gw.dispatcher.run_until_idle()
    statuses = {name: gw.order(tenant, oid)["status"] for name, oid in ids.items()}
    assert set(statuses.values()) == {"released"}, statuses
    official = etree.XMLSchema(etree.parse(str(OFFICIAL_XSD))) if OFFICIAL_XSD.is_file() else None
    receipts = sandbox.fetch_receipts(None)
    assert {etree.QName(etree.fromstring(r.body)).localname for r in receipts} >= {
        "CEB304Message", "CEB404Message", "CEB506Message", "CEB604Message", "CEB608Message", "CEB508Message",
        "CEB510Message", "CEB702Message", "CEB792Message"}
    for r in receipts:
        root = etree.fromstring(r.body)
        assert schemas.validate(root) == [], r.body.decode()
        if etree.QName(root).namespace != NS["c"]:      # our agency desks' AgencyReceipt: our schema only
            parse_receipt(r.body)
            continue
        if official is not None:       # shared/reference present: the official export XSD agrees
            assert official.validate(root), official.error_log
        parse_receipt(r.body)
    with gw.uow_factory() as uow:
        outcomes = {row.outcome for row in uow.session.scalars(select(m.Receipt))}
    assert "quarantined" not in outcomes and "unmatched" not in outcomes


def test_simplified_export_files_four_documents_and_the_inventory_goes_last(gw_on_sqlite):
    gw, sandbox = gw_on_sqlite
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, export_text(SIMPLE))
    assert set(sub.filing_ids) == {"CEB303Message", "CEB403Message", "CEB505Message", "CEB603Message",
                                   "RebateRecord", "FxRecord"}     # + the tax (rebate data) and FX records
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    with gw.uow_factory() as uow:
        by_guid = {f.guid: f.message_type for f in uow.filings.for_order(tenant, sub.order_id)}
    arrived = [by_guid[g] for g in sandbox.received() if g in by_guid]
    # the inventory (with the FX record) after order, receipt of payment and waybill; the rebate data after
    # the inventory it belongs to
    assert set(arrived[:3]) == {"CEB303Message", "CEB403Message", "CEB505Message"}
    assert set(arrived[3:5]) == {"CEB603Message", "FxRecord"} and arrived[-1] == "RebateRecord"


def test_stored_bytes_are_signed_and_sent_as_stored(gw_on_sqlite):
    gw, sandbox = gw_on_sqlite
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, export_text("1210-special-zone-japan.json"))
    gw.dispatcher.run_until_idle()
    for message_type, filing_id in sub.filing_ids.items():
        mt, data = gw.filing_bytes(tenant, filing_id)
        assert mt == message_type
        verify(data)
        # export order: ds:Signature right after BaseTransfer (no ExtendMessage is sent); our own
        # records end with the signature too
        last = [etree.QName(c).localname for c in etree.fromstring(data)][-2:]
        assert last == (["BaseTransfer", "Signature"] if message_type.startswith("CEB") else
                        ["referenceVersion", "Signature"])
        with gw.uow_factory() as uow:
            guid = uow.filings.get(tenant, filing_id).guid
        assert sandbox.received_bytes(guid) == data


def test_scripted_rejection_of_the_export_inventory_reaches_the_order(tmp_path, sqlite_url, signing_key):
    order_no = json.loads(export_text(SIMPLE))["order_no"]
    script = SandboxScript().reject(order_no, "申报要素不全 (declaration elements incomplete)", on="CEB603Message")
    gw, _ = make_gateway(tmp_path, sqlite_url, signing_key, script=script)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, export_text(SIMPLE))
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "rejected" and "申报要素不全" in view["status_reason"]
    assert history(view)["CEB603Message"] == ["2", "100"]


def test_invalid_export_order_stores_nothing(gw_on_sqlite):
    gw, _ = gw_on_sqlite
    tenant, _ = add_tenant(gw)
    data = json.loads(export_text(FULL))
    data["payment"]["amount"] = "1.00"
    data["logistics"]["destination_country"] = "142"
    before = (count(gw, m.Order), count(gw, m.Filing), count(gw, m.OutboxItem))
    with pytest.raises(OrderInvalid) as exc:
        gw.submit(tenant, json.dumps(data, ensure_ascii=False))
    assert {(p.path, p.rule) for p in exc.value.problems} == {
        ("$.payment.amount", "payment-amount"), ("$.logistics.destination_country", "destination-country")}
    assert (count(gw, m.Order), count(gw, m.Filing), count(gw, m.OutboxItem)) == before


def test_import_and_export_orders_in_one_tenant(gw_on_sqlite):
    gw, _ = gw_on_sqlite
    tenant, _ = add_tenant(gw)
    imported = gw.submit(tenant, (ROOT / "fixtures/orders/valid/1210-single-line.json").read_text("utf-8"))
    exported = gw.submit(tenant, export_text("1239-special-zone-korea.json"))
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, imported.order_id)["status"] == "released"
    view = gw.order(tenant, exported.order_id)
    assert view["status"] == "released" and view["regime"] == "1239"


# -- the sandbox's export checks, driven directly ------------------------------------------------------

@pytest.fixture(scope="module")
def built(signing_key):
    """Signed export messages of the full fixture, by message type (not sent anywhere yet)."""
    order = parse_order(export_text(FULL))
    ctx = FilingContext(guid="", app_time=T0, transfer=Transfer("4403980R3S", "一站通", "DXPENT0000458763"),
                        cop_no="GW00000000000000AA")
    ids = SequentialIds(prefix="7B000000-0000-4000-8000")
    roots = {p.message_type: BUILDERS[p.message_type](order, FilingContext(**{**ctx.__dict__, "guid": ids.new_guid()}))
             for p in plan(order)}
    return roots, signing_key


def sign(root, key) -> OutgoingMessage:
    return OutgoingMessage(root.get("guid"), etree.QName(root).localname, XmlSigner().sign(root, key))


def run(gov, messages) -> dict[str, list[tuple[str, str]]]:
    for message in messages:
        assert gov.send(message).accepted
    entries: dict[str, list[tuple[str, str]]] = {}
    cursor = None
    for _ in range(10):
        new = gov.fetch_receipts(cursor)
        for r in new:
            for e in parse_receipt(r.body):
                entries.setdefault(e.answers, []).append((e.status_code, e.info))
        cursor = new[-1].cursor if new else cursor
    return entries


def government() -> SandboxGovernment:
    return SandboxGovernment(FixedClock(T0, step_seconds=1), SequentialIds())


def test_sandbox_refuses_an_inventory_without_its_three_documents(built):
    roots, key = built
    entries = run(government(), [sign(roots["CEB603Message"], key)])
    [(status, info)] = entries["CEB603Message"][-1:]
    assert status == "100" and "三单对碰失败" in info
    assert "订单" in info and "收款单" in info and "运单" in info


def test_sandbox_checks_the_money_received_against_the_order(built):
    roots, key = built
    receipt = etree.fromstring(etree.tostring(roots["CEB403Message"]))
    receipt.find(".//c:charge", NS).text = "9999.00"
    entries = run(government(), [sign(roots["CEB303Message"], key), sign(receipt, key)])
    assert entries["CEB303Message"][-1][0] == "120"
    status, info = entries["CEB403Message"][-1]
    assert status == "100" and "收款金额超过订单金额" in info


def test_sandbox_refuses_a_duplicate_export_order(built):
    roots, key = built
    gov = government()
    first = sign(roots["CEB303Message"], key)
    copy = etree.fromstring(etree.tostring(roots["CEB303Message"]))
    copy.set("guid", "7B000000-0000-4000-8000-0000000000FF")
    entries = run(gov, [first, sign(copy, key)])
    assert sorted(s for s, _ in entries["CEB303Message"]) == ["-301010", "120", "2"]   # the first one: 2, 120


def test_sandbox_refuses_a_summary_with_nothing_to_summarise(built):
    roots, key = built
    status, info = run(government(), [sign(roots["CEB701Message"], key)])["CEB701Message"][-1]
    assert status == "100" and "无可汇总的清单" in info


def test_sandbox_answers_the_whole_set_with_a_summary_result(built):
    roots, key = built
    gov = government()
    order = ["CEB303Message", "CEB403Message", "CEB505Message", "CEB603Message", "CEB607Message",
             "CEB507Message", "CEB701Message", "CEB509Message"]
    entries = run(gov, [sign(roots[t], key) for t in order])
    assert {t: [s for s, _ in e] for t, e in entries.items()} == {
        "CEB303Message": ["2", "120"], "CEB403Message": ["2", "120"], "CEB505Message": ["2", "120"],
        "CEB603Message": ["2", "120", "399", "800"], "CEB607Message": ["2", "120"],
        "CEB507Message": ["2", "120"], "CEB509Message": ["2", "120"], "CEB701Message": ["2", "399", "A"]}
    [result] = [r for r in gov.fetch_receipts(None) if b"CEB792Message" in r.body[:200]]
    root = etree.fromstring(result.body)
    assert [e.text for e in root.iterfind(".//c:SummaryResultList/c:gnum", NS)] == ["1", "2"]
    invt_no = root.findtext(".//c:SummaryResultList/c:invtNo", namespaces=NS)
    assert invt_no.startswith("53162026E")          # the export inventory's number (customs + year + E)


# -- `gateway declare` ---------------------------------------------------------------------------------

def test_gateway_declare_writes_the_export_filings(tmp_path, capfd):
    out = tmp_path / "out"
    code = cli.main(["declare", str(EXPORT / FULL), "--out", str(out), "--instance", str(tmp_path / "instance")])
    assert code == 0, capfd.readouterr().err
    files = sorted(p.name for p in out.glob("*.xml"))
    assert files == sorted(f"{t}.xml" for t in ("CEB303Message", "CEB403Message", "CEB505Message", "CEB507Message",
                                                   "CEB509Message", "CEB603Message", "CEB607Message",
                                                   "CEB701Message"))
    official = etree.XMLSchema(etree.parse(str(OFFICIAL_XSD))) if OFFICIAL_XSD.is_file() else None
    for name in files:
        data = (out / name).read_bytes()
        verified = verify(data)
        assert schemas.validate(etree.fromstring(data)) == []        # the signed bytes, signature included
        assert schemas.validate(verified.root) == []
        if official is not None:      # shared/reference present: the official export XSD takes them too
            assert official.validate(etree.fromstring(data)), official.error_log


def test_gateway_declare_reports_an_invalid_export_order(tmp_path):
    bad = tmp_path / "bad.json"
    data = json.loads(export_text(SIMPLE))
    data["summary"] = {}
    bad.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "declare", str(bad), "--out", str(tmp_path / "out"),
                        "--instance", str(tmp_path / "i")], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "$.summary: [summary-flag]" in r.stderr
    assert not (tmp_path / "out").exists()


# -- replay --------------------------------------------------------------------------------------------

def test_export_orders_replay_to_identical_filings(gw_on_sqlite, signing_key):
    """Everything an export filing holds comes from the stored body, app_time, cop_no and guids (the
    summary's copNo is derived from them), so a replay rebuilds the same signed bytes."""
    from gateway.service.replay import replay_order

    gw, _ = gw_on_sqlite
    tenant, _ = add_tenant(gw)
    orders = {p.name: gw.submit(tenant, p.read_text("utf-8")).order_id for p in sorted(EXPORT.glob("*.json"))}
    for name, order_id in orders.items():
        report = replay_order(gw.uow_factory, order_id, key=signing_key, tenant_id=tenant,
                              current_versions=gw.declarer.built_with(signing_key))
        assert report.identical, (name, report.lines())
