"""What a DXP client may leave in the InBox, built the way the 2022 terminal- and transport-node XSDs
describe (ceb-messages.md §10): a DxpMsg around a receipt, a transport node's DxpMsgSv around that
DxpMsg, the raw CEB receipt itself (business-node style), and the platform's DxpRep answer.

    write(inbox, "DxpMsgSv", receipt_bytes, name="CEB312_1")
"""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from gateway.adapters import dxpmsg
from gateway.adapters.fileio import write_atomically

DXP = dxpmsg.DXP_NS
AT = datetime(2026, 3, 1, 2, 30, 5, tzinfo=UTC)
CUSTOMS = "DXPEDCCEB0000002"
US = "DXPENT0000458763"


def dxp_msg(receipt: bytes, cop_msg_id: str = "R-1", msg_type: str = "CEB312Message") -> bytes:
    return dxpmsg.wrap(receipt, cop_msg_id=cop_msg_id, msg_type=msg_type, sender_id=CUSTOMS, receiver_ids=[US],
                       created=AT)


def dxp_msg_sv(receipt: bytes, cop_msg_id: str = "R-1", msg_type: str = "CEB312Message") -> bytes:
    """A transport node's DxpMsgSv: SvNo (MsgId = 8-digit node + time + 10-digit sequence, SubMsgId,
    SendTime, EndNode, StaNode) around the DxpMsg."""
    inner = etree.fromstring(dxp_msg(receipt, cop_msg_id, msg_type))
    root = etree.Element(f"{{{DXP}}}DxpMsgSv", nsmap={"dxp": DXP}, ver="1.0")
    sv_no = etree.SubElement(root, f"{{{DXP}}}SvNo", Ver="1.0")
    for name, value in (("MsgId", "10000001" + "20260301103005" + "0000000001"), ("SubMsgId", "1"),
                        ("SendTime", "2026-03-01T10:30:05"), ("EndNode", "10000002"), ("StaNode", "10000001")):
        etree.SubElement(sv_no, f"{{{DXP}}}{name}").text = value
    root.append(inner)
    return dxpmsg.XML_DECLARATION + etree.tostring(root, encoding="UTF-8")


def dxp_rep(cop_msg_id: str, msg_type: str, code: str, info: str = "") -> bytes:
    """The exchange platform's answer to our transmission ``cop_msg_id`` (terminal-node XSD DxpRep)."""
    root = etree.Element(f"{{{DXP}}}DxpRep", nsmap={None: DXP}, ver="1.0")
    etree.SubElement(root, f"{{{DXP}}}RecevierId").text = US
    response = etree.SubElement(root, f"{{{DXP}}}Response")
    etree.SubElement(response, f"{{{DXP}}}ResponseCode").text = code
    if info:
        etree.SubElement(response, f"{{{DXP}}}ResponseInfo").text = info
    etree.SubElement(response, f"{{{DXP}}}NoticeTime").text = "2026-03-01"
    head = etree.SubElement(response, f"{{{DXP}}}OriHead")
    for name, value in (("CopMsgId", cop_msg_id), ("SenderId", US)):
        etree.SubElement(head, f"{{{DXP}}}{name}").text = value
    etree.SubElement(etree.SubElement(head, f"{{{DXP}}}ReceiverIds"), f"{{{DXP}}}ReceiverId").text = CUSTOMS
    etree.SubElement(head, f"{{{DXP}}}CreatTime").text = "2026-03-01T10:30:00"
    etree.SubElement(head, f"{{{DXP}}}MsgType").text = msg_type
    return dxpmsg.XML_DECLARATION + etree.tostring(root, encoding="UTF-8")


FORMS = {"DxpMsg": dxp_msg, "DxpMsgSv": dxp_msg_sv, "raw CEB": lambda receipt, *_: bytes(receipt)}


def write(inbox: Path, form: str, receipt: bytes, name: str) -> Path:
    path = inbox / f"{name}.xml"
    write_atomically(path, FORMS[form](receipt, name, "CEBReceipt"))
    return path
