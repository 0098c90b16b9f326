"""Receipt parsing (gateway.declarations.receipts): official samples, CEB900, hostile input."""
from __future__ import annotations

from pathlib import Path

import pytest

from gateway.declarations import keys
from gateway.declarations.receipts import (RECEIPT_KINDS, ReceiptEntry, ReceiptUnreadable,
                                           parse_receipt)

REFERENCE = Path(__file__).resolve().parents[3] / "shared/reference/ceb-202205"
IMPORT_SAMPLES = REFERENCE / "samples" / "import"
needs_reference = pytest.mark.skipif(
    not IMPORT_SAMPLES.is_dir(), reason=f"official CEB samples not present at {IMPORT_SAMPLES}")

NS = 'xmlns="http://www.chinaport.gov.cn/ceb"'
GUID = "4CDE1CFD-EDED-46B1-946C-B8022E42FC94"


def receipt(root: str, body: str, root_attrs: str = NS) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} {root_attrs} guid="{GUID}" version="1.0">'
            f"{body}</{root}>").encode("utf-8")


def order_return(order_no: str = "ORD-1", status: str = "2", extra: str = "") -> str:
    return (f"<OrderReturn><guid>{GUID}</guid><ebpCode>1105910159</ebpCode><ebcCode>1105910160</ebcCode>"
            f"<orderNo>{order_no}</orderNo><returnStatus>{status}</returnStatus>"
            f"<returnTime>20260301093000123</returnTime><returnInfo>新增申报成功[{GUID}]</returnInfo>{extra}"
            "</OrderReturn>")


# -- official samples -------------------------------------------------------------------------

@needs_reference
@pytest.mark.parametrize("name, answers, key, status, info", [
    ("CEB312Message", "CEB311Message", keys.order_key("1105910159", "1105910159", "order20160321116420545"),
     "2", f"新增申报成功[{GUID}]"),
    ("CEB412Message", "CEB411Message", keys.payment_key("1105910159", "P0321000433"), "120", "a"),
    ("CEB512Message", "CEB511Message", keys.waybill_key("1105910159", "L20160321114400001"),
     "2", "新增申报成功[4CDE1CFD-EDED-46B1-946C-B8022E42FC96]"),
    ("CEB622Message", "CEB621Message", keys.inventory_key("cop2016032211000"), "1", "暂存"),
])
def test_official_receipt_samples(name, answers, key, status, info):
    entries = parse_receipt((IMPORT_SAMPLES / f"{name}.xml").read_bytes())
    assert len(entries) == 10   # every sample repeats its return entity ten times
    for entry in entries:
        assert entry.message_type == name
        assert entry.answers == answers
        assert entry.business_key == key
        assert entry.status_code == status
        assert entry.info == info
        assert len(entry.status_time) == 17
        assert len(entry.guid) == 36
        assert entry.fields["returnStatus"] == status


@needs_reference
def test_ceb622_sample_keeps_every_field():
    entry = parse_receipt((IMPORT_SAMPLES / "CEB622Message.xml").read_bytes())[0]
    assert entry.fields == {
        "guid": GUID, "customsCode": "1501", "ebpCode": "1105910159", "ebcCode": "1105910159",
        "agentCode": "1105980159", "copNo": "cop2016032211000", "preNo": "B20160512000001882",
        "returnStatus": "1", "returnTime": "20160512102646001", "returnInfo": "暂存",
    }


# -- shapes -----------------------------------------------------------------------------------

def test_default_namespace_and_prefix_read_the_same():
    default = parse_receipt(receipt("CEB312Message", order_return()))
    prefixed = parse_receipt(
        receipt("ceb:CEB312Message", order_return().replace("<", "<ceb:").replace("<ceb:/", "</ceb:"),
                'xmlns:ceb="http://www.chinaport.gov.cn/ceb"'))
    assert default == prefixed
    assert default[0] == ReceiptEntry(
        message_type="CEB312Message", answers="CEB311Message",
        business_key=keys.order_key("1105910159", "1105910160", "ORD-1"), status_code="2",
        status_time="20260301093000123", info=f"新增申报成功[{GUID}]", guid=GUID,
        fields={"guid": GUID, "ebpCode": "1105910159", "ebcCode": "1105910160", "orderNo": "ORD-1",
                "returnStatus": "2", "returnTime": "20260301093000123", "returnInfo": f"新增申报成功[{GUID}]"})


def test_several_entities_in_document_order():
    data = receipt("CEB312Message", order_return("A", "2") + order_return("B", "120") + order_return("C", "-301010"))
    entries = parse_receipt(data)
    assert [(e.fields["orderNo"], e.status_code) for e in entries] == [("A", "2"), ("B", "120"), ("C", "-301010")]


def test_unknown_extra_elements_are_tolerated():
    extra = ('<regionNote>海关新字段</regionNote><x:vendor xmlns:x="urn:example">ignored</x:vendor>'
             '<!-- a comment --><?pi ignored?>')
    data = receipt("CEB312Message", order_return(extra=extra) + '<Unrelated><a>1</a></Unrelated>')
    (entry,) = parse_receipt(data)
    assert entry.fields["regionNote"] == "海关新字段"
    assert "vendor" not in entry.fields
    assert entry.business_key == keys.order_key("1105910159", "1105910160", "ORD-1")


def test_ceb622_with_invt_no():
    body = ("<InventoryReturn><guid>" + GUID + "</guid><customsCode>5349</customsCode><copNo>GW0001</copNo>"
            "<preNo>B20260301000000001</preNo><invtNo>53492026I000000001</invtNo><returnStatus>800</returnStatus>"
            "<returnTime>20260301093000123</returnTime><returnInfo>放行</returnInfo></InventoryReturn>")
    (entry,) = parse_receipt(receipt("CEB622Message", body))
    assert (entry.business_key, entry.status_code, entry.fields["invtNo"]) == (
        keys.inventory_key("GW0001"), "800", "53492026I000000001")


def test_ceb900_points_at_the_transmission():
    original = '<?xml version="1.0"?><ceb:CEB311Message xmlns:ceb="http://www.chinaport.gov.cn/ceb"/>'
    body = (f"<MessageReturn><guid>{GUID}</guid><returnStatus>-1</returnStatus>"
            "<returnInfo>0002 数据包不能通过schema验证</returnInfo><returnTime>20260301093000123</returnTime>"
            "<oriCopMsgId>6F1C2A4E-0000-4000-8000-000000000001</oriCopMsgId>"
            "<oriMessageType>CEB311Message</oriMessageType>"
            f"<oriBizMessage><![CDATA[{original}]]></oriBizMessage></MessageReturn>")
    (entry,) = parse_receipt(receipt("CEB900Message", body))
    assert entry.message_type == "CEB900Message"
    assert entry.answers == "CEB311Message"
    assert entry.business_key == keys.message_key("6F1C2A4E-0000-4000-8000-000000000001")
    assert entry.status_code == "-1"
    assert entry.info == "0002 数据包不能通过schema验证"
    assert entry.fields["oriBizMessage"] == original


def test_every_kind_answers_its_declaration():
    for name, kind in RECEIPT_KINDS.items():
        assert kind.message_type == name
        if name == "CEB792Message":      # customs-originated: the summary result follows the CEB701
            assert kind.answers == "CEB701Message"
        elif name in ("CEB816Message", "CEB818Message"):   # the tax bill releases the order's tax record
            assert kind.answers == "TaxRecord"
        elif name == "AgencyReceipt":    # our agency desks: the record type is in the receipt
            assert kind.answers is None and kind.answers_field == "recordType"
        elif name != "CEB900Message":
            assert kind.answers == f"CEB{int(name[3:6]) - 1}Message"


# -- refused ----------------------------------------------------------------------------------

@pytest.mark.parametrize("data, why", [
    (b'<?xml version="1.0"?><!DOCTYPE CEB312Message [<!ENTITY x "boom">]>' + receipt("CEB312Message", order_return("&x;")).split(b"?>", 1)[1],
     "DOCTYPE"),
    (b'<!DOCTYPE CEB312Message SYSTEM "file:///etc/passwd">' + receipt("CEB312Message", order_return()).split(b"?>", 1)[1],
     "DOCTYPE"),
    (b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><r>&b;</r>', "DOCTYPE"),
    (b"HTTP/1.1 502 Bad Gateway\r\n\r\n<html>", "not well-formed"),
    (b"\x00\xff\xfe garbage", "not well-formed"),
    (b"", "empty"),
    (b"   \n", "empty"),
    (receipt("CEB312Message", order_return())[:-20], "not well-formed"),
    (receipt("CEB999Message", order_return()), "unknown receipt type 'CEB999Message'"),
    (receipt("CEB311Message", ""), "unknown receipt type 'CEB311Message'"),
    (receipt("CEB312Message", order_return(), 'xmlns="urn:other"'), "namespace"),
    (receipt("CEB312Message", order_return(), ""), "namespace"),
    (receipt("CEB312Message", ""), "holds no OrderReturn"),
    (receipt("CEB312Message", order_return().replace("<orderNo>ORD-1</orderNo>", "")), "orderNo"),
    (receipt("CEB312Message", order_return().replace("<orderNo>ORD-1</orderNo>", "<orderNo> </orderNo>")), "orderNo"),
    (receipt("CEB312Message", order_return().replace("<returnStatus>2</returnStatus>", "")), "returnStatus"),
    (receipt("CEB900Message", f"<MessageReturn><guid>{GUID}</guid><returnStatus>-1</returnStatus>"
                              "<oriCopMsgId>X</oriCopMsgId><oriMessageType></oriMessageType></MessageReturn>"),
     "oriMessageType"),
])
def test_unreadable_receipts_are_refused(data, why):
    with pytest.raises(ReceiptUnreadable, match=why):
        parse_receipt(data)


def test_only_bytes():
    with pytest.raises(TypeError):
        parse_receipt(receipt("CEB312Message", order_return()).decode("utf-8"))  # type: ignore[arg-type]
