"""Export receipts (gateway.declarations.receipts): CEB304/404/506/508/510/604/608/702 and the
customs-originated CEB792 summary result; the official samples; keys shaped like the builders'."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.declarations import keys
from gateway.declarations.ceb_export import business_key, cop_no_for
from gateway.declarations.common import FilingContext, Transfer
from gateway.declarations.receipts import RECEIPT_KINDS, ReceiptUnreadable, parse_receipt
from gateway.domain.parse import parse_order

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path(os.environ.get("CEB_REFERENCE_DIR") or Path(__file__).resolve().parents[3] / "shared/reference/ceb-202205")
EXPORT_SAMPLES = REFERENCE / "samples" / "export"
needs_reference = pytest.mark.skipif(
    not EXPORT_SAMPLES.is_dir(), reason=f"official CEB samples not present at {EXPORT_SAMPLES}")
NS = 'xmlns="http://www.chinaport.gov.cn/ceb"'
GUID = "4CDE1CFD-EDED-46B1-946C-B8022E42FC94"
CTX = FilingContext(guid=GUID, app_time=datetime(2026, 11, 20, 10, 30, tzinfo=timezone(timedelta(hours=8))),
                    transfer=Transfer("4403980R3S", "x", "DXPENT0000458763"), cop_no="GW0000000000000001")
ORDER = parse_order((ROOT / "fixtures/orders/export/valid/9610-summary-sea-germany.json").read_text("utf-8"))


def receipt(root: str, entity: str, fields: list[tuple[str, str]], status="2") -> bytes:
    body = "".join(f"<{n}>{v}</{n}>" for n, v in fields)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} {NS} guid="{GUID}" version="1.0"><{entity}>'
            f"<guid>{GUID}</guid>{body}<returnStatus>{status}</returnStatus>"
            f"<returnTime>20261120103001123</returnTime><returnInfo>ok</returnInfo></{entity}></{root}>"
            ).encode()


# -- official samples -------------------------------------------------------------------------

@needs_reference
@pytest.mark.parametrize("name, answers, key", [
    ("CEB304Message", "CEB303Message", keys.export_order_key("1105910159", "1105910159", "order2018050711340001")),
    ("CEB404Message", "CEB403Message", keys.receipt_of_payment_key("1105910159", "order2018050711340001")),
    ("CEB506Message", "CEB505Message", keys.export_waybill_key("1105910159", "L2018050700001")),
    ("CEB508Message", "CEB507Message", keys.arrival_key("Cop20180507001")),
    ("CEB510Message", "CEB509Message", keys.departure_key("CoP20180507000000001")),
    ("CEB604Message", "CEB603Message", keys.export_inventory_key("Cop20180507001")),
    ("CEB608Message", "CEB607Message", keys.bill_list_key("Cop20180507001")),
    ("CEB702Message", "CEB701Message", keys.summary_key("C201805080001")),
])
def test_official_receipt_samples(name, answers, key):
    entries = parse_receipt((EXPORT_SAMPLES / f"{name}.xml").read_bytes())   # several carry a BOM
    assert len(entries) == 10
    for entry in entries:
        assert (entry.message_type, entry.answers, entry.business_key) == (name, answers, key)
        assert entry.status_code == "2" and entry.info.startswith("新增申报成功")
        assert len(entry.status_time) == 17 and len(entry.guid) == 36


@needs_reference
def test_ceb604_sample_keeps_every_field():
    entry = parse_receipt((EXPORT_SAMPLES / "CEB604Message.xml").read_bytes())[0]
    assert entry.fields["invtNo"] == "Invt20180507000001" and entry.fields["preNo"] == "P20180507000000001"
    assert entry.fields["statisticsFlag"] == "1"      # the sample's value: samples are shapes, not oracles


@needs_reference
def test_official_summary_result_sample_parses_although_invalid():
    """The CEB792 sample lacks gseqno (invalid against the XSD) but carries what we read."""
    entries = parse_receipt((EXPORT_SAMPLES / "CEB792Message.xml").read_bytes())
    assert len(entries) == 10            # ten SummaryResult, each listing the same waybill
    entry = entries[0]
    assert entry.answers == "CEB701Message" and entry.status_code == "A"
    assert entry.business_key == keys.summary_key(keys.summary_cop_no("1105910159", "1105910159", "L2018050700001"))
    assert entry.fields["declSeqNo"] == "S20180508000000001" and entry.fields["sumNo"] == "S20180507000000001"
    assert entry.status_time == "20180508101112012"
    assert "declSeqNo S20180508000000001" in entry.info


# -- receipts find the filings our builders made ------------------------------------------------

@pytest.mark.parametrize("message_type, root, entity, fields", [
    ("CEB303Message", "CEB304Message", "OrderReturn",
     [("ebpCode", "4403961K2P"), ("ebcCode", "4403960M8Q"), ("orderNo", "OTTO-DE-2026112000431")]),
    ("CEB403Message", "CEB404Message", "ReceiptsReturn",
     [("ebcCode", "4403960M8Q"), ("orderNo", "OTTO-DE-2026112000431"), ("payNo", "4200002026112017420500131")]),
    ("CEB505Message", "CEB506Message", "LogisticsReturn",
     [("logisticsCode", "4403980W6U"), ("logisticsNo", "HYT2026112000431")]),
    ("CEB603Message", "CEB604Message", "InventoryReturn",
     [("agentCode", "4403980R3S"), ("copNo", "GW0000000000000001"), ("preNo", "B20261120000000001"),
      ("invtNo", ""), ("ebcCode", "4403960M8Q"), ("ebpCode", "4403961K2P"),
      ("orderNo", "OTTO-DE-2026112000431"), ("statisticsFlag", "B")]),
    ("CEB607Message", "CEB608Message", "WayBillReturn",
     [("agentCode", "4403980R3S"), ("logisticsCode", "4403980W6U"), ("copNo", "GW0000000000000001-W"),
      ("preNo", "B20261120000000002"), ("billNo", "COSU6345512870"), ("msgSeqNo", "1")]),
    ("CEB507Message", "CEB508Message", "ArrivalReturn",
     [("operatorCode", "4403980Z1X"), ("logisticsCode", "4403980W6U"), ("preNo", "B20261120000000003"),
      ("copNo", "GW0000000000000001-A"), ("billNo", "COSU6345512870"), ("msgSeqNo", "1")]),
    ("CEB509Message", "CEB510Message", "DepartureReturn",
     [("logisticsCode", "4403980W6U"), ("copNo", "GW0000000000000001-D"), ("preNo", "B20261120000000004"),
      ("msgSeqNo", "1")]),
    ("CEB701Message", "CEB702Message", "SummaryReturn",
     [("agentCode", "4403980R3S"), ("ebcCode", "4403960M8Q"), ("copNo", cop_no_for("CEB701Message", ORDER, CTX)),
      ("preNo", "B20261120000000005"), ("msgSeqNo", "1")]),
])
def test_receipt_key_is_the_filing_key(message_type, root, entity, fields):
    [entry] = parse_receipt(receipt(root, entity, fields))
    assert entry.answers == message_type
    assert entry.business_key == business_key(message_type, ORDER, CTX)


def summary_result(rows: str, head_extra: str = "") -> bytes:
    return (f'<CEB792Message {NS} guid="{GUID}" version="1.0"><SummaryResult><SummaryResultHead>'
            f"<guid>{GUID}</guid><customsCode>5316</customsCode><sumNo>S20261120000000001</sumNo>"
            "<opDate>20261120103500000</opDate><declSeqNo>531620260000000001</declSeqNo>"
            f"{head_extra}<decState>A</decState><agentCode>4403980R3S</agentCode><agentName>a</agentName>"
            "<ebcCode>4403960M8Q</ebcCode><ebcName>b</ebcName><declAgentCode>4403980T9V</declAgentCode>"
            "<declAgentName>c</declAgentName><grossWeight>31.6</grossWeight><netWeight>28.4</netWeight>"
            f"<msgCount>1</msgCount><msgSeqNo>1</msgSeqNo></SummaryResultHead>{rows}</SummaryResult>"
            "</CEB792Message>").encode()


def row(logistics_no: str, gnum: int) -> str:
    return (f"<SummaryResultList><invtNo>5316202600000001</invtNo><logisticsNo>{logistics_no}</logisticsNo>"
            f"<gseqno>{gnum}</gseqno><gnum>{gnum}</gnum><gcode>9617001900</gcode></SummaryResultList>")


def test_summary_result_finds_the_summary_of_each_waybill():
    entries = parse_receipt(summary_result(row("HYT2026112000431", 1) + row("HYT2026112000431", 2)
                                           + row("HYT2026112000999", 1), "<entryId>531620261000123456</entryId>"))
    assert [e.business_key for e in entries] == [
        business_key("CEB701Message", ORDER, CTX),     # the order's own summary, once for its two lines
        keys.summary_key(keys.summary_cop_no("4403980R3S", "4403960M8Q", "HYT2026112000999"))]
    entry = entries[0]
    assert entry.fields["entryId"] == "531620261000123456" and entry.fields["invtNo"] == "5316202600000001"
    assert entry.info == "sumNo S20261120000000001 declSeqNo 531620260000000001 entryId 531620261000123456 decState A"


def test_summary_result_without_list_is_keyed_by_its_sum_no():
    [entry] = parse_receipt(summary_result(""))
    assert entry.business_key == keys.summary_result_key("S20261120000000001")


def test_summary_result_without_head_or_state_is_unreadable():
    with pytest.raises(ReceiptUnreadable, match="decState"):
        parse_receipt(summary_result("").replace(b"<decState>A</decState>", b""))
    bare = f'<CEB792Message {NS} guid="{GUID}" version="1.0"><SummaryResult/></CEB792Message>'.encode()
    with pytest.raises(ReceiptUnreadable, match="SummaryResultHead"):
        parse_receipt(bare)


def test_export_receipt_without_its_key_is_unreadable():
    with pytest.raises(ReceiptUnreadable, match="copNo"):
        parse_receipt(receipt("CEB604Message", "InventoryReturn", [("agentCode", "x"), ("preNo", "B1")]))


def test_export_receipts_are_known():
    assert {"CEB304Message", "CEB404Message", "CEB506Message", "CEB508Message", "CEB510Message",
            "CEB604Message", "CEB608Message", "CEB702Message", "CEB792Message"} <= set(RECEIPT_KINDS)


def test_an_import_and_an_export_order_with_the_same_numbers_have_different_keys():
    assert keys.export_order_key("A", "B", "1") != keys.order_key("A", "B", "1")
    assert keys.export_waybill_key("A", "1") != keys.waybill_key("A", "1")
    assert keys.export_inventory_key("GW1") != keys.inventory_key("GW1")
