"""The DXP terminal-node envelope ``DxpMsg`` (ceb-messages.md §10.2): pure, no I/O.

    <dxp:DxpMsg xmlns:dxp="http://www.chinaport.gov.cn/dxp" ver="1.0">
      <dxp:TransInfo>
        <dxp:CopMsgId>our message id</dxp:CopMsgId>
        <dxp:SenderId>the tenant's dxpId</dxp:SenderId>
        <dxp:ReceiverIds><dxp:ReceiverId>DXPEDCCEB0000002</dxp:ReceiverId></dxp:ReceiverIds>
        <dxp:CreatTime>2026-03-01T10:00:00</dxp:CreatTime>
        <dxp:MsgType>CEB311Message</dxp:MsgType>
      </dxp:TransInfo>
      <dxp:Data>base64 of the exact signed bytes</dxp:Data>
      <dxp:AddInfo><dxp:FileName>CEB311Message_<id>.xml</dxp:FileName></dxp:AddInfo>
    </dxp:DxpMsg>

``wrap`` builds one, ``unwrap`` reads one back (hardened parser, every required part checked)
and returns the exact bytes that were in ``Data``.

``inbound`` reads whatever a DXP client leaves in the InBox (ceb-messages.md §10.1, §10.2; the
terminal- and transport-node XSDs): a ``DxpMsg`` (its ``Data``), a ``DxpMsgSv`` (the transport
node's routing header around a DxpMsg: the DxpMsg's ``Data``), a raw CEB message (business-node
style: the bytes as they are) or a ``DxpRep`` (the exchange platform's answer to one of our
transmissions: the bytes as they are, read as a receipt by gateway.declarations.receipts).
"""
from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from gateway.domain.common.dates import CHINA_TZ

DXP_NS = "http://www.chinaport.gov.cn/dxp"
CEB_NS = "http://www.chinaport.gov.cn/ceb"
VERSION = "1.0"
MAX_ENVELOPE_BYTES = 32 * 1024 * 1024
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

# Receivers of the CEB data centre (ceb-messages.md §3.5; from public implementations).
IMPORT_RECEIVER = "DXPEDCCEB0000002"
EXPORT_RECEIVER = "DXPEDCCEB0000003"
IMPORT_TYPES = frozenset(f"CEB{n}Message" for n in (311, 411, 511, 513, 621, 623, 625, 711))
EXPORT_TYPES = frozenset(f"CEB{n}Message" for n in (303, 403, 505, 507, 509, 603, 605, 607, 213, 215, 701))

_ID = re.compile(r"^[^\s<>&]{1,16}$")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                          dtd_validation=False, remove_blank_text=False)


class DxpError(ValueError):
    """Not a readable DxpMsg (the reason says what is wrong)."""


@dataclass(frozen=True)
class DxpEnvelope:
    cop_msg_id: str
    sender_id: str
    receiver_ids: tuple[str, ...]
    creat_time: str
    msg_type: str
    data: bytes                  # the exact bytes that were base64-encoded in Data
    file_name: str | None = None


def default_receiver(message_type: str) -> str | None:
    if message_type in IMPORT_TYPES:
        return IMPORT_RECEIVER
    if message_type in EXPORT_TYPES:
        return EXPORT_RECEIVER
    return None


def file_name(message_type: str, cop_msg_id: str) -> str:
    return f"{message_type}_{cop_msg_id}.xml"


def creat_time(moment: datetime) -> str:
    """yyyy-MM-ddTHH:mm:ss in Beijing time (no zone, as the DXP clients write it)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(CHINA_TZ)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def wrap(data: bytes, *, cop_msg_id: str, msg_type: str, sender_id: str, receiver_ids: list[str] | tuple[str, ...],
         created: datetime, add_file_name: bool = True) -> bytes:
    """The DxpMsg bytes carrying ``data`` (base64) from ``sender_id`` to ``receiver_ids``."""
    if not 1 <= len(cop_msg_id) <= 255:
        raise DxpError(f"CopMsgId must be 1..255 characters, got {cop_msg_id!r}")
    for label, value in [("SenderId", sender_id)] + [("ReceiverId", r) for r in receiver_ids]:
        if not value or not _ID.match(value):
            raise DxpError(f"{label} must be 1..16 characters without spaces, got {value!r}")
    if not 1 <= len(receiver_ids) <= 5:
        raise DxpError(f"1..5 ReceiverId allowed, got {len(receiver_ids)}")
    if len(msg_type) > 30:
        raise DxpError(f"MsgType must be at most 30 characters, got {msg_type!r}")
    root = etree.Element(_q("DxpMsg"), nsmap={"dxp": DXP_NS})
    root.set("ver", VERSION)
    info = etree.SubElement(root, _q("TransInfo"))
    _add(info, "CopMsgId", cop_msg_id)
    _add(info, "SenderId", sender_id)
    receivers = etree.SubElement(info, _q("ReceiverIds"))
    for receiver in receiver_ids:
        _add(receivers, "ReceiverId", receiver)
    _add(info, "CreatTime", creat_time(created))
    _add(info, "MsgType", msg_type)
    _add(root, "Data", base64.b64encode(bytes(data)).decode("ascii"))
    if add_file_name:
        name = file_name(msg_type, cop_msg_id)
        if len(name) <= 255:
            _add(etree.SubElement(root, _q("AddInfo")), "FileName", name)
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False)


def unwrap(envelope: bytes) -> DxpEnvelope:
    """Read a DxpMsg; raise DxpError when it is not one or a required part is missing or broken."""
    root = _parse(envelope)
    if root.tag != _q("DxpMsg"):
        raise DxpError(f"root is {root.tag!r}, not {{{DXP_NS}}}DxpMsg")
    return _read(root)


def inbound(data: bytes) -> bytes:
    """The receipt carried by one InBox item: DxpMsg, DxpMsgSv, DxpRep or a raw CEB message (see the
    module docstring). Raises DxpError for anything else, or a broken envelope."""
    root = _parse(data)
    if root.tag == _q("DxpMsg"):
        return _read(root).data
    if root.tag == _q("DxpMsgSv"):
        if root.get("ver") != VERSION:
            raise DxpError(f"DxpMsgSv ver must be {VERSION!r}, got {root.get('ver')!r}")
        _one(root, "SvNo")
        return _read(_one(root, "DxpMsg")).data
    if root.tag == _q("DxpRep"):
        _one(root, "Response")
        return bytes(data)
    if isinstance(root.tag, str) and root.tag.startswith(f"{{{CEB_NS}}}"):
        return bytes(data)
    raise DxpError(f"root is {root.tag!r}: neither a DXP envelope (DxpMsg, DxpMsgSv, DxpRep) nor a CEB message")


def _parse(envelope: bytes) -> etree._Element:
    if not isinstance(envelope, (bytes, bytearray, memoryview)):
        raise DxpError(f"expected bytes, got {type(envelope).__name__}")
    envelope = bytes(envelope)
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise DxpError(f"envelope of {len(envelope)} bytes exceeds {MAX_ENVELOPE_BYTES}")
    try:
        root = etree.fromstring(envelope, parser=_PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise DxpError(f"not well-formed XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise DxpError("document type declarations are not accepted")
    return root


def _read(root: etree._Element) -> DxpEnvelope:
    if root.get("ver") != VERSION:
        raise DxpError(f"DxpMsg ver must be {VERSION!r}, got {root.get('ver')!r}")
    info = _one(root, "TransInfo")
    cop_msg_id = _text(info, "CopMsgId")
    sender = _text(info, "SenderId")
    receivers = tuple((r.text or "").strip() for r in _one(info, "ReceiverIds").findall(_q("ReceiverId")))
    if not receivers or not all(receivers):
        raise DxpError("TransInfo/ReceiverIds has no ReceiverId")
    created = _text(info, "CreatTime")
    msg_type = _text(info, "MsgType", required=False)
    raw = "".join((_one(root, "Data").text or "").split())
    if not raw:
        raise DxpError("Data is empty")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DxpError(f"Data is not base64: {exc}") from None
    add = root.find(_q("AddInfo"))
    name = None
    if add is not None and add.find(_q("FileName")) is not None:
        name = (add.find(_q("FileName")).text or "").strip() or None
    return DxpEnvelope(cop_msg_id, sender, receivers, created, msg_type, data, name)


def ceb_root_name(data: bytes) -> str | None:
    """The local name of a CEB document's root, or None (cheap: reads only up to the root tag)."""
    try:
        for _, element in etree.iterparse(io.BytesIO(bytes(data)), events=("start",), resolve_entities=False,
                                          no_network=True, load_dtd=False):
            return etree.QName(element).localname
    except (etree.XMLSyntaxError, ValueError):
        return None
    return None


def transfer_dxp_id(data: bytes) -> str | None:
    """BaseTransfer/dxpId of a signed CEB document (the sender's DXP id), or None."""
    try:
        root = etree.fromstring(bytes(data), parser=_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
    node = root.find(f"{{{CEB_NS}}}BaseTransfer/{{{CEB_NS}}}dxpId")
    value = (node.text or "").strip() if node is not None else ""
    return value or None


def _q(name: str) -> str:
    return f"{{{DXP_NS}}}{name}"


def _add(parent, name: str, text: str) -> None:
    etree.SubElement(parent, _q(name)).text = text


def _one(parent, name: str):
    node = parent.find(_q(name))
    if node is None:
        raise DxpError(f"{etree.QName(parent).localname}/{name} is missing")
    return node


def _text(parent, name: str, required: bool = True) -> str:
    value = (_one(parent, name).text or "").strip()
    if required and not value:
        raise DxpError(f"{etree.QName(parent).localname}/{name} is empty")
    return value
