"""The DxpMsg envelope (gateway/adapters/dxpmsg.py): built, read back, and valid against the
terminal-node XSD of the 2022 standard when the reference folder is there."""
from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

from gateway.adapters import dxpmsg
from gateway.adapters.dxpmsg import DxpError
from tests import dxp_forms
from tests.helpers import REFERENCE

DXP = {"dxp": dxpmsg.DXP_NS}
BODY = ('<?xml version="1.0" encoding="UTF-8"?>\n<ceb:CEB311Message xmlns:ceb="http://www.chinaport.gov.cn/ceb" '
        'guid="4CF3C0B8-2B4D-4E8B-9F7E-6A1F2C3D4E5F" version="1.0"><ceb:BaseTransfer><ceb:dxpId>DXPENT0000458763'
        '</ceb:dxpId></ceb:BaseTransfer><!-- 签名 --></ceb:CEB311Message>\r\n').encode()
AT = datetime(2026, 3, 1, 2, 30, 5, tzinfo=UTC)          # 10:30:05 in Beijing


def envelope(**overrides) -> bytes:
    args = dict(cop_msg_id="4CF3C0B8-2B4D-4E8B-9F7E-6A1F2C3D4E5F", msg_type="CEB311Message",
                sender_id="DXPENT0000458763", receiver_ids=["DXPEDCCEB0000002"], created=AT)
    args.update(overrides)
    return dxpmsg.wrap(BODY, **args)


def test_the_envelope_carries_the_exact_bytes_and_the_transfer_information():
    data = envelope()
    root = etree.fromstring(data)
    assert root.tag == "{http://www.chinaport.gov.cn/dxp}DxpMsg" and root.get("ver") == "1.0"
    assert [etree.QName(c).localname for c in root] == ["TransInfo", "Data", "AddInfo"]
    assert [etree.QName(c).localname for c in root.find("dxp:TransInfo", DXP)] == \
        ["CopMsgId", "SenderId", "ReceiverIds", "CreatTime", "MsgType"]
    assert root.findtext("dxp:TransInfo/dxp:CreatTime", namespaces=DXP) == "2026-03-01T10:30:05"
    assert root.findtext("dxp:AddInfo/dxp:FileName", namespaces=DXP) == \
        "CEB311Message_4CF3C0B8-2B4D-4E8B-9F7E-6A1F2C3D4E5F.xml"
    assert base64.b64decode(root.findtext("dxp:Data", namespaces=DXP)) == BODY
    back = dxpmsg.unwrap(data)
    assert back.data == BODY                                         # byte for byte, CRLF and comment kept
    assert (back.cop_msg_id, back.sender_id, back.receiver_ids, back.msg_type, back.creat_time) == (
        "4CF3C0B8-2B4D-4E8B-9F7E-6A1F2C3D4E5F", "DXPENT0000458763", ("DXPEDCCEB0000002",), "CEB311Message",
        "2026-03-01T10:30:05")


@pytest.mark.skipif(not (REFERENCE / "xsd" / "ceb-terminal-node-202205.xsd").is_file(),
                    reason=f"reference XSDs not found under {REFERENCE}")
@pytest.mark.parametrize("receivers", [["DXPEDCCEB0000002"], ["DXPEDCCEB0000003", "DXPENT0000000009"]])
def test_the_envelope_is_valid_against_the_terminal_node_schema(receivers):
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False)
    schema = etree.XMLSchema(etree.parse(str(REFERENCE / "xsd" / "ceb-terminal-node-202205.xsd"), parser))
    document = etree.fromstring(envelope(receiver_ids=receivers))
    assert schema.validate(document), schema.error_log
    broken = etree.fromstring(envelope())
    broken.remove(broken.find("dxp:Data", DXP))
    assert not schema.validate(broken)                               # the schema does check


def test_receivers_by_direction():
    assert dxpmsg.default_receiver("CEB621Message") == "DXPEDCCEB0000002"
    assert dxpmsg.default_receiver("CEB603Message") == "DXPEDCCEB0000003"
    assert dxpmsg.default_receiver("DecMessage") is None


def test_the_sender_is_read_from_base_transfer():
    assert dxpmsg.transfer_dxp_id(BODY) == "DXPENT0000458763"
    assert dxpmsg.transfer_dxp_id(b"<CEB311Message/>") is None
    assert dxpmsg.transfer_dxp_id(b"not xml") is None
    assert dxpmsg.ceb_root_name(BODY) == "CEB311Message"


def test_creat_time_is_beijing_time_without_zone():
    assert dxpmsg.creat_time(datetime(2026, 12, 31, 20, 0, tzinfo=UTC)) == "2027-01-01T04:00:00"
    assert dxpmsg.creat_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=8)))) == \
        "2026-01-02T03:04:05"


@pytest.mark.parametrize("overrides, reason", [
    ({"sender_id": "DXPENT00004587631"}, "SenderId"),
    ({"sender_id": ""}, "SenderId"),
    ({"receiver_ids": []}, "1..5 ReceiverId"),
    ({"receiver_ids": ["A"] * 6}, "1..5 ReceiverId"),
    ({"cop_msg_id": ""}, "CopMsgId"),
    ({"msg_type": "X" * 31}, "MsgType"),
])
def test_envelopes_that_break_the_schema_are_not_built(overrides, reason):
    with pytest.raises(DxpError, match=reason):
        envelope(**overrides)


@pytest.mark.parametrize("data, reason", [
    (b"<dxp:DxpMsg", "not well-formed"),
    (b"<DxpMsg ver='1.0'/>", "not {http://www.chinaport.gov.cn/dxp}DxpMsg"),
    (envelope().replace(b'ver="1.0"', b'ver="2.0"'), "ver must be"),
    (envelope().replace(b"<dxp:SenderId>DXPENT0000458763</dxp:SenderId>", b""), "SenderId is missing"),
    (envelope().replace(b"<dxp:ReceiverId>DXPEDCCEB0000002</dxp:ReceiverId>", b""), "no ReceiverId"),
    (etree.tostring(etree.fromstring(envelope())).replace(
        base64.b64encode(BODY), b"not*base64!"), "not base64"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><dxp:DxpMsg xmlns:dxp="http://www.chinaport.gov.cn/dxp"'
     b' ver="1.0">&e;</dxp:DxpMsg>', "document type"),
    ("<text/>", "expected bytes"),
])
def test_unreadable_envelopes_say_why(data, reason):
    with pytest.raises(DxpError, match=reason):
        dxpmsg.unwrap(data)


def test_line_breaks_inside_data_are_tolerated():
    root = etree.fromstring(envelope())
    data = root.find("dxp:Data", DXP)
    text = data.text
    data.text = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))   # MIME-style lines
    assert dxpmsg.unwrap(etree.tostring(root)).data == BODY


# -- what the DXP client leaves in the InBox ---------------------------------------------------------

RECEIPT = (b'<CEB312Message xmlns="http://www.chinaport.gov.cn/ceb" guid="G" version="1.0"><OrderReturn/>'
           b'</CEB312Message>')


@pytest.mark.parametrize("form", sorted(dxp_forms.FORMS))
def test_every_inbox_form_gives_the_receipt_bytes(form):
    assert dxpmsg.inbound(dxp_forms.FORMS[form](RECEIPT)) == RECEIPT


def test_the_platform_answer_is_passed_on_as_it_is():
    rep = dxp_forms.dxp_rep("4CF3C0B8-2B4D-4E8B-9F7E-6A1F2C3D4E5F", "CEB311Message", "1001", "数字签名无效")
    assert dxpmsg.inbound(rep) == rep


@pytest.mark.skipif(not (REFERENCE / "xsd" / "ceb-terminal-node-202205.xsd").is_file(),
                    reason=f"reference XSDs not found under {REFERENCE}")
def test_the_platform_answer_we_read_follows_the_schema():
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False)
    schema = etree.XMLSchema(etree.parse(str(REFERENCE / "xsd" / "ceb-terminal-node-202205.xsd"), parser))
    document = etree.fromstring(dxp_forms.dxp_rep("M-1", "CEB311Message", "1001", "数字签名无效"))
    assert schema.validate(document), schema.error_log


@pytest.mark.parametrize("data, reason", [
    (b'<x:Other xmlns:x="urn:x"/>', "neither a DXP envelope"),
    (b'<DxpMsgSv xmlns="http://www.chinaport.gov.cn/dxp" ver="1.0"><SvNo/></DxpMsgSv>', "DxpMsgSv/DxpMsg is missing"),
    (b'<DxpMsgSv xmlns="http://www.chinaport.gov.cn/dxp" ver="1.0"/>', "DxpMsgSv/SvNo is missing"),
    (b'<DxpRep xmlns="http://www.chinaport.gov.cn/dxp"/>', "DxpRep/Response is missing"),
    (b'<!DOCTYPE x [<!ENTITY a "b">]><CEB312Message xmlns="http://www.chinaport.gov.cn/ceb"/>', "document type"),
])
def test_what_is_no_inbox_form_is_refused(data, reason):
    with pytest.raises(DxpError, match=reason):
        dxpmsg.inbound(data)
