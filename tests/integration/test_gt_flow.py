"""General trade (0110) end to end on a real database (SQLite and PostgreSQL): submit through the
same service path as CBEC orders -> one signed DecMessage -> outbox -> the sandbox's general-trade
desk -> DecImportResponse + DEC_RESULT receipts -> released (or rejected, with the reason)."""
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.adapters.sandbox import SandboxGovernment, SandboxScript
from gateway.declarations.receipts import parse_receipt
from gateway.domain.problems import OrderInvalid
from gateway.ports import FixedClock, OutgoingMessage, SequentialIds
from gateway.service import orders as order_service
from gateway.service.orders import OrderConflict
from gateway.signing import verify, xmlsec1_verify
from gateway.store import models as m
from tests.helpers import START, add_tenant, fixture_text, make_gateway

GENERAL = Path(__file__).resolve().parents[2] / "fixtures" / "orders" / "general" / "valid"
FIXTURES = sorted(p.name for p in GENERAL.glob("*.json"))
LADDER = ["0", "7", "L", "J", "P", "R"]


def gt_text(name: str) -> str:
    return (GENERAL / name).read_text("utf-8")


def gt_json(name: str) -> dict:
    return json.loads(gt_text(name))


def count(gw, model):
    with gw.uow_factory() as uow:
        return uow.session.scalar(select(func.count()).select_from(model))


def declaration(view) -> dict:
    [filing] = [f for f in view["filings"] if f["message_type"] == "DecMessage"]
    return filing


def history(view) -> list[str]:
    return [r["status_code"] for r in declaration(view)["receipts"]]


@pytest.fixture
def gw(tmp_path, db_url, signing_key):
    gateway, _ = make_gateway(tmp_path, db_url, signing_key)
    return gateway


@pytest.mark.parametrize("fixture", FIXTURES)
def test_declaration_reaches_released_through_the_channel_ladder(gw, fixture):
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, gt_text(fixture))
    tax_record = "TaxRecord" if gt_json(fixture)["direction"] == "import" else "RebateRecord"
    # one entry, four agencies: the declaration, the tax record (import taxes / rebate data) and the FX record
    assert sub.created and list(sub.filing_ids) == ["DecMessage", tax_record, "FxRecord"]
    view = gw.order(tenant, sub.order_id)
    assert (view["status"], view["regime"]) == ("in_progress", "0110")
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "released", view
    # inspection travels inside the declaration: no own filing
    assert view["agencies"] == {"customs": "released", "tax": "released", "fx": "released"}
    assert view["direction"] == gt_json(fixture)["direction"]
    assert history(view) == LADDER
    filing = declaration(view)
    assert (filing["state"], filing["status_code"]) == ("released", "R")
    assert [r["message_type"] for r in filing["receipts"]] == ["DecImportResponse"] + ["DEC_RESULT"] * 5


def test_inspection_variant_passes_through_inspection(tmp_path, db_url, signing_key):
    order = gt_json("gt-import-infant-formula.json")
    gw, _ = make_gateway(tmp_path, db_url, signing_key, script=SandboxScript().inspect(order["client_ref"]))
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, gt_text("gt-import-infant-formula.json"))
    states = []
    for _ in range(20):
        gw.dispatcher.run_once()
        view = gw.order(tenant, sub.order_id)
        states.append(declaration(view)["state"])
        if view["status"] != "in_progress":
            break
    assert view["status"] == "released"
    gw.dispatcher.run_until_idle()                   # R 结关 follows the release
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "released"
    assert history(view) == ["0", "7", "L", "J", "C", "P", "R"]
    assert "inspection" in states and states.index("inspection") < states.index("released")
    assert states.index("accepted") < states.index("concluded") < states.index("inspection")


def test_customs_refusal_reaches_the_order_with_its_reason(tmp_path, db_url, signing_key):
    ref = gt_json("gt-import-wine.json")["client_ref"]
    script = SandboxScript().reject(ref, "商品归类有误 (wrong classification)", on="DecMessage")
    gw, _ = make_gateway(tmp_path, db_url, signing_key, script=script)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, gt_text("gt-import-wine.json"))
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "rejected"
    assert "商品归类有误" in view["status_reason"] and "[E]" in view["status_reason"]
    assert history(view) == ["0", "7", "E"]


def test_signed_bytes_are_stored_sent_and_verify_with_xmlsec1(tmp_path, db_url, signing_key):
    gw, sandbox = make_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, gt_text("gt-export-apparel.json"))
    message_type, data = gw.filing_bytes(tenant, sub.filing_ids["DecMessage"])
    assert message_type == "DecMessage"
    verify(data, trusted_certificates=[signing_key.certificate])
    ok, reason = xmlsec1_verify(data)
    assert ok, reason
    gw.dispatcher.run_until_idle()
    with gw.uow_factory() as uow:
        filing = uow.filings.get(tenant, sub.filing_ids["DecMessage"])
        guid, business_key = filing.guid, filing.business_key
    assert sandbox.received_bytes(guid) == data
    assert business_key == "dec:APP20261121000003"


def test_same_declaration_twice_is_idempotent_and_a_changed_one_conflicts(gw):
    tenant, _ = add_tenant(gw)
    first = gw.submit(tenant, gt_text("gt-import-wine.json"))
    again = gw.submit(tenant, gt_text("gt-import-wine.json"))
    assert (again.order_id, again.filing_ids, again.created) == (first.order_id, first.filing_ids, False)
    changed = gt_json("gt-import-wine.json")
    changed["goods_place"] = "上海市浦东新区洋山港区"
    with pytest.raises(OrderConflict):
        gw.submit(tenant, json.dumps(changed, ensure_ascii=False))
    assert count(gw, m.Order) == 1 and count(gw, m.Filing) == 3       # declaration, tax and FX records


def test_invalid_declaration_stores_nothing(gw):
    tenant, _ = add_tenant(gw)
    bad = gt_json("gt-import-wine.json")
    del bad["insurance"]
    before = (count(gw, m.Order), count(gw, m.Filing), count(gw, m.OutboxItem))
    with pytest.raises(OrderInvalid) as exc:
        gw.submit(tenant, json.dumps(bad, ensure_ascii=False))
    assert [(p.path, p.rule) for p in exc.value.problems] == [("$.insurance", "charges-for-terms")]
    assert (count(gw, m.Order), count(gw, m.Filing), count(gw, m.OutboxItem)) == before


def test_one_batch_mixes_cbec_and_general_trade(gw):
    tenant, _ = add_tenant(gw)
    items = order_service.submit_batch(gw.uow_factory, gw.declarer, gw.key, gw.clock, gw.ids, tenant,
                                       [fixture_text("1210-single-line.json"), gt_json("gt-export-apparel.json"),
                                        {"regime": "0110", "direction": "import"}])
    assert items[0].submitted and items[1].submitted
    assert isinstance(items[2].error, OrderInvalid)
    assert set(items[1].submitted.filing_ids) == {"DecMessage", "RebateRecord", "FxRecord"}
    gw.dispatcher.run_until_idle()
    assert {gw.order(tenant, i.submitted.order_id)["status"] for i in items[:2]} == {"released"}


# -- the sandbox's general-trade desk on its own ------------------------------------------------------

def _government(script=None) -> SandboxGovernment:
    return SandboxGovernment(FixedClock(START, step_seconds=1), SequentialIds(), script)


def _declaration(signing_key, name="gt-import-wine.json") -> bytes:
    from datetime import date

    from gateway.declarations.common import Transfer
    from gateway.domain.general_trade.intake import parse_gt_order
    from gateway.service.declare import Declarer
    from gateway.signing import XmlSigner

    order = parse_gt_order(gt_text(name), on=date(2026, 11, 20))
    built = Declarer(XmlSigner(), SequentialIds()).declare(
        order, transfer=Transfer("3122980123", "上海通关宝报关有限公司", "DXP1"), key=signing_key,
        app_time=START, cop_no="GW1")
    return built[0].signed_bytes


def _drain(gov) -> list:
    entries, cursor = [], None
    for _ in range(20):
        new = gov.fetch_receipts(cursor)
        if not new:
            break
        cursor = new[-1].cursor
        entries += [e for r in new for e in parse_receipt(r.body)]
    return entries


def test_desk_refuses_a_tampered_signature_at_upload(signing_key):
    gov = _government()
    data = _declaration(signing_key).replace(b"<GQty>6000</GQty>", b"<GQty>6001</GQty>")
    assert gov.send(OutgoingMessage("M1", "DecMessage", data)).accepted
    [entry] = _drain(gov)
    assert (entry.message_type, entry.status_code, entry.business_key) == \
        ("DecImportResponse", "1", "dec:WINE20261118000001")
    assert "数字签名无效" in entry.info


def test_desk_refuses_a_client_seq_no_used_before(signing_key):
    gov = _government()
    first, second = _declaration(signing_key), _declaration(signing_key)
    assert gov.send(OutgoingMessage("M1", "DecMessage", first)).accepted
    assert gov.send(OutgoingMessage("M1", "DecMessage", first)).duplicate        # same message: transport dedupe
    assert gov.send(OutgoingMessage("M2", "DecMessage", second)).accepted
    entries = _drain(gov)
    responses = [e for e in entries if e.message_type == "DecImportResponse"]
    assert [e.status_code for e in responses] == ["0", "1"]
    assert "ClientSeqNo" in responses[1].info
    results = [e.status_code for e in entries if e.message_type == "DEC_RESULT"]
    assert results == ["7", "L", "J", "P", "R"]
    seq_no = responses[0].fields["SeqNo"]
    assert len(seq_no) == 18 and seq_no.startswith("I2026")
    entry_ids = {e.fields.get("ENTRY_ID") for e in entries if e.fields.get("ENTRY_ID")}
    [entry_id] = entry_ids
    assert len(entry_id) == 18 and entry_id[:4] == "2200" and entry_id[8] == "1"


def test_desk_checks_what_customs_checks(signing_key):
    from lxml import etree

    from gateway.signing import XmlSigner

    gov = _government()
    root = etree.fromstring(_declaration(signing_key))
    root.remove(root[-1])                                                       # drop the signature
    ns = {"d": "http://www.chinaport.gov.cn/dec"}
    root.find("d:DecHead/d:NetWt", ns).text = "99999"
    root.find("d:DecLists/d:DecList/d:DeclTotal", ns).text = "1"
    data = XmlSigner().sign(root, signing_key)
    gov.send(OutgoingMessage("M1", "DecMessage", data))
    entries = _drain(gov)
    assert [e.status_code for e in entries] == ["0", "7", "E"]
    assert "净重大于毛重" in entries[-1].info and "第1项总价" in entries[-1].info
