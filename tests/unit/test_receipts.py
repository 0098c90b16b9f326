"""Receipt parsing (gateway.declarations.receipts): official samples, CEB900, hostile input."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.declarations import keys
from gateway.declarations.receipts import RECEIPT_KINDS, ReceiptEntry, ReceiptUnreadable, parse_receipt

REFERENCE = Path(os.environ.get("CEB_REFERENCE_DIR") or Path(__file__).resolve().parents[3] / "shared/reference/ceb-202205")
IMPORT_SAMPLES = REFERENCE / "samples" / "import"
needs_reference = pytest.mark.skipif(
    not IMPORT_SAMPLES.is_dir(), reason=f"official CEB samples not present at {IMPORT_SAMPLES}")

NS = 'xmlns="http://www.chinaport.gov.cn/ceb"'
GUID = "4CDE1CFD-EDED-46B1-946C-B8022E42FC94"


def receipt(root: str, body: str, root_attrs: str = NS) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} {root_attrs} guid="{GUID}" version="1.0">'
            f"{body}</{root}>").encode()


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
        elif name == "DxpRep":           # the DXP platform's answer names the type it answers
            assert kind.answers is None and kind.answers_field == "MsgType"
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


# -- every receipt of the 202205 set, both root spellings, the DXP platform's answer -----------------

OFFICIAL_RECEIPTS = {
    "import": ["CEB312Message", "CEB412Message", "CEB512Message", "CEB514Message", "CEB622Message",
               "CEB624Message", "CEB626Message", "CEB712Message"],
    "export": ["CEB304Message", "CEB404Message", "CEB506Message", "CEB508Message", "CEB510Message",
               "CEB604Message", "CEB606Message", "CEB608Message", "CEB214Message", "CEB216Message",
               "CEB702Message", "CEB792Message"],
}


@needs_reference
@pytest.mark.parametrize("directory, name", [(d, n) for d, names in OFFICIAL_RECEIPTS.items() for n in names])
def test_every_official_sample_receipt_is_read(directory, name):
    entries = parse_receipt((REFERENCE / "samples" / directory / f"{name}.xml").read_bytes())
    assert entries and all(e.message_type == name for e in entries)
    assert all(e.answers == RECEIPT_KINDS[name].answers and e.business_key and e.status_code for e in entries)


@needs_reference
def test_the_receipt_samples_listed_are_all_the_receipts_of_the_set():
    sent = {f"CEB{n}Message" for n in (311, 411, 511, 513, 621, 623, 625, 711, 303, 403, 505, 507, 509, 603, 605,
                                       607, 213, 215, 701)}
    samples = {p.stem for d in ("import", "export") for p in (REFERENCE / "samples" / d).glob("CEB*.xml")}
    assert samples - sent == {n for names in OFFICIAL_RECEIPTS.values() for n in names}


@needs_reference
@pytest.mark.parametrize("directory, name, key, answers", [
    ("import", "CEB514Message", keys.logistics_status_key("1105910158", "L20160384156465231", "S"), "CEB513Message"),
    ("import", "CEB712Message", keys.delivery_key("cop0160308021"), "CEB711Message"),
    ("export", "CEB216Message", keys.return_tally_key("1105910152", "L2018050700003", "Cop20180507056"),
     "CEB215Message"),
    ("export", "CEB214Message", keys.export_refund_key("Cop20220407001"), "CEB213Message"),
])
def test_the_receipts_of_the_other_parties_messages(directory, name, key, answers):
    entry = parse_receipt((REFERENCE / "samples" / directory / f"{name}.xml").read_bytes())[0]
    assert (entry.business_key, entry.answers, entry.status_code) == (key, answers, "18" if name in (
        "CEB514Message", "CEB712Message") else "2")


def test_a_short_root_reads_as_the_message_it_names():
    """The official CEB214 sample's root is ceb:CEB214; the other receipts say CEB214Message."""
    body = ("<RefundReturn><guid>G</guid><agentCode>A</agentCode><coElNo>R-1</coElNo><invtNo>I</invtNo>"
            "<returnStatus>800</returnStatus><returnTime>20260301093000123</returnTime><returnInfo>ok</returnInfo>"
            "</RefundReturn>")
    short, long = parse_receipt(receipt("CEB214", body)), parse_receipt(receipt("CEB214Message", body))
    assert short == long and short[0].message_type == "CEB214Message"
    with pytest.raises(ReceiptUnreadable, match="unknown receipt type 'CEB999'"):
        parse_receipt(receipt("CEB999", order_return()))
    with pytest.raises(ReceiptUnreadable, match="unknown receipt type 'CEB312Messages'"):
        parse_receipt(receipt("CEB312Messages", order_return()))


DXP_REP = """<?xml version="1.0" encoding="UTF-8"?>
<DxpRep xmlns="http://www.chinaport.gov.cn/dxp" ver="1.0"><RecevierId>DXPENT0000458763</RecevierId>
<Response><ResponseCode>{code}</ResponseCode><ResponseInfo>{info}</ResponseInfo>
<Results><Result><RecId>DXPEDCCEB0000002</RecId><Code>{code}</Code><Info>{info}</Info></Result></Results>
<NoticeTime>2026-03-01</NoticeTime><OriHead><CopMsgId>{mid}</CopMsgId><SenderId>DXPENT0000458763</SenderId>
<ReceiverIds><ReceiverId>DXPEDCCEB0000002</ReceiverId></ReceiverIds><CreatTime>2026-03-01T09:30:00</CreatTime>
<MsgType>CEB621Message</MsgType></OriHead></Response></DxpRep>"""


def test_the_dxp_platform_answer_is_keyed_by_our_message_id():
    from gateway.domain import status as st

    entry, = parse_receipt(DXP_REP.format(code="1001", info="数字签名无效", mid=GUID).encode("utf-8"))
    assert (entry.message_type, entry.answers, entry.business_key) == ("DxpRep", "CEB621Message", keys.message_key(GUID))
    assert entry.status_code == "1001" and "数字签名无效" in entry.info and entry.status_time == "20260301"
    assert st.state_for("DxpRep", "1001") == st.REJECTED and st.state_for("DxpRep", "0000") == st.SENT
    with pytest.raises(ReceiptUnreadable, match="lacks OriHead/CopMsgId"):
        parse_receipt(DXP_REP.format(code="0", info="", mid="").encode("utf-8"))
