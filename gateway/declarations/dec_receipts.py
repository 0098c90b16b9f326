"""General-trade receipts → receipt entries (general-trade-inspection-fx-tax.md §1.8). Pure: an
already parsed (hardened) root in, ``ReceiptEntry`` objects out, no I/O.

Two kinds, both answering a ``DecMessage`` and keyed ``dec:<ClientSeqNo>`` (``keys.dec_key``):

- ``DecImportResponse`` (namespace …/dec): the upload acknowledgement. ResponseCode "0" (通讯回执)
  = taken for processing; anything else failed [U]. Also gives SeqNo (统一编号).
  Entry: message_type "DecImportResponse", status_code = ResponseCode, info = ErrorMessage.
- ``DEC_DATA`` holding 1..n ``DEC_RESULT`` (or a bare ``DEC_RESULT``), no namespace or …/dec [U]:
  the business receipts. Entry per DEC_RESULT: message_type "DEC_RESULT", status_code = CHANNEL,
  status_time = NOTICE_DATE as digits (yyyyMMddHHmmss…, at most 17), info = NOTE.

The CHANNEL → state mapping is ``gateway.domain.status.state_for``. A receipt without ClientSeqNo
(CLIENTSEQ_NO in DEC_RESULT; only one public parser reads it) cannot be matched by this gateway yet
and is refused as unreadable, so it is quarantined rather than lost [U: see docs/general-trade.md].
"""
from __future__ import annotations

import re

from lxml import etree

from . import keys
from .receipt_entries import ReceiptEntry, ReceiptUnreadable

DEC_NS = "http://www.chinaport.gov.cn/dec"
ANSWERS = "DecMessage"
IMPORT_RESPONSE = "DecImportResponse"
RESULT = "DEC_RESULT"
ROOTS = (IMPORT_RESPONSE, "DEC_DATA", RESULT)
_NAMESPACES = (None, DEC_NS)
_MAX_TIME = 17                 # receipt status_time columns hold yyyyMMddHHmmssSSS
_NOT_DIGIT = re.compile(r"[^0-9]")


def parse_dec_receipt(root: etree._Element) -> list[ReceiptEntry]:
    qname = etree.QName(root)
    if qname.namespace not in _NAMESPACES:
        raise ReceiptUnreadable(f"{qname.localname} is in namespace {qname.namespace!r}, expected none or {DEC_NS!r}")
    if qname.localname == IMPORT_RESPONSE:
        return [_import_response(root)]
    results = [root] if qname.localname == RESULT else [
        child for child in root if isinstance(child.tag, str) and etree.QName(child).localname == RESULT]
    if not results:
        raise ReceiptUnreadable("DEC_DATA holds no DEC_RESULT")
    return [_result(element, number) for number, element in enumerate(results, start=1)]


def _import_response(root: etree._Element) -> ReceiptEntry:
    fields = _fields(root)
    code = fields.get("ResponseCode", "")
    if not code:
        raise ReceiptUnreadable("DecImportResponse has no ResponseCode")
    client_seq_no = fields.get("ClientSeqNo", "")
    if not client_seq_no:
        raise ReceiptUnreadable("DecImportResponse has no ClientSeqNo: it cannot be matched to a declaration")
    return ReceiptEntry(message_type=IMPORT_RESPONSE, answers=ANSWERS, business_key=keys.dec_key(client_seq_no),
                        status_code=code, status_time="", info=fields.get("ErrorMessage", ""), guid="",
                        fields=fields)


def _result(element: etree._Element, number: int) -> ReceiptEntry:
    fields = _fields(element)
    where = f"DEC_RESULT #{number}"
    channel = fields.get("CHANNEL", "")
    if not channel:
        raise ReceiptUnreadable(f"{where} has no CHANNEL")
    client_seq_no = fields.get("CLIENTSEQ_NO", "")
    if not client_seq_no:
        raise ReceiptUnreadable(f"{where} has no CLIENTSEQ_NO: matching by CUS_CIQ_NO "
                                f"({fields.get('CUS_CIQ_NO') or 'absent'}) is not supported yet")
    return ReceiptEntry(message_type=RESULT, answers=ANSWERS, business_key=keys.dec_key(client_seq_no),
                        status_code=channel, status_time=notice_time(fields.get("NOTICE_DATE", "")),
                        info=fields.get("NOTE", ""), guid="", fields=fields)


def notice_time(text: str) -> str:
    """NOTICE_DATE in any common layout ("2026-11-20T10:31:02", "2026-11-20 10:31:02.123",
    "20261120103102") as digits, at most 17: comparable like CEB returnTime. Format [U]."""
    return _NOT_DIGIT.sub("", text)[:_MAX_TIME]


def _fields(element: etree._Element) -> dict[str, str]:
    """Children in no namespace or …/dec by local name, text trimmed; first occurrence wins."""
    fields: dict[str, str] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        if qname.namespace not in _NAMESPACES:
            continue
        fields.setdefault(qname.localname, "".join(child.itertext()).strip())
    return fields
