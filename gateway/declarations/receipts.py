"""Government receipts → receipt events (ceb-messages.md §4). Pure: bytes in, entries out, no I/O.

One receipt message holds 1..100 return entities (OrderReturn, InventoryReturn ...), possibly for
several filings. Each entity becomes one ``ReceiptEntry`` carrying the business key of the filing
it answers, shaped by ``gateway.declarations.keys`` exactly as the builders shape it.

The parser is namespace-aware (customs writes a default namespace, enterprises a ``ceb:`` prefix;
both are the same names), refuses DOCTYPEs and entities, never touches the network, and ignores
elements it does not know. Anything it cannot turn into entries raises ``ReceiptUnreadable``
so the caller can quarantine that one receipt and carry on with the next.

Adding a receipt type (export CEB304, 404, 506, 604 ...) is one entry in ``RECEIPT_KINDS``.
"""
from __future__ import annotations

import re

from lxml import etree

from . import agency_receipts, keys
from .dec_receipts import parse_dec_receipt
from .receipt_entries import CEB_NS, ReceiptEntry, ReceiptKind, ReceiptUnreadable, _fields

# A CEB900 carries the whole original message (oriBizMessage); 100 entities of anything else are
# a few tens of kilobytes. Anything bigger than this is not a receipt.
MAX_RECEIPT_BYTES = 16 * 1024 * 1024

__all__ = ["CEB_NS", "ReceiptEntry", "ReceiptUnreadable", "ReceiptKind", "RECEIPT_KINDS", "parse_receipt",
           "MAX_RECEIPT_BYTES"]



def _kinds(*kinds: ReceiptKind) -> dict[str, ReceiptKind]:
    return {kind.message_type: kind for kind in kinds}


AGENCY_NS = "urn:gateway:agency:1"


RECEIPT_KINDS: dict[str, ReceiptKind] = _kinds(
    # import (1210 / 9610)
    ReceiptKind("CEB312Message", "OrderReturn", ("ebpCode", "ebcCode", "orderNo"), keys.order_key,
                answers="CEB311Message"),
    ReceiptKind("CEB412Message", "PaymentReturn", ("payCode", "payTransactionId"), keys.payment_key,
                answers="CEB411Message"),
    ReceiptKind("CEB512Message", "LogisticsReturn", ("logisticsCode", "logisticsNo"), keys.waybill_key,
                answers="CEB511Message"),
    ReceiptKind("CEB622Message", "InventoryReturn", ("copNo",), keys.inventory_key,
                answers="CEB621Message"),
    # format-check failure of any transmission: keyed by the transmission (our message id)
    ReceiptKind("CEB900Message", "MessageReturn", ("oriCopMsgId",), keys.message_key,
                answers_field="oriMessageType"),
    # export (9610 / 1210 / 1239), ceb-messages.md §4.1; copNo is ours and unique per document
    ReceiptKind("CEB304Message", "OrderReturn", ("ebpCode", "ebcCode", "orderNo"), keys.export_order_key,
                answers="CEB303Message"),
    ReceiptKind("CEB404Message", "ReceiptsReturn", ("ebcCode", "orderNo"), keys.receipt_of_payment_key,
                answers="CEB403Message"),
    ReceiptKind("CEB506Message", "LogisticsReturn", ("logisticsCode", "logisticsNo"), keys.export_waybill_key,
                answers="CEB505Message"),
    ReceiptKind("CEB604Message", "InventoryReturn", ("copNo",), keys.export_inventory_key,
                answers="CEB603Message"),
    ReceiptKind("CEB608Message", "WayBillReturn", ("copNo",), keys.bill_list_key, answers="CEB607Message"),
    ReceiptKind("CEB508Message", "ArrivalReturn", ("copNo",), keys.arrival_key, answers="CEB507Message"),
    ReceiptKind("CEB510Message", "DepartureReturn", ("copNo",), keys.departure_key, answers="CEB509Message"),
    ReceiptKind("CEB702Message", "SummaryReturn", ("copNo",), keys.summary_key, answers="CEB701Message"),
    # customs-originated summary result: one entry per waybill it lists (see _summary_result)
    ReceiptKind("CEB792Message", "SummaryResult", ("agentCode", "ebcCode", "sumNo"), keys.summary_result_key,
                answers="CEB701Message", read=lambda kind, entity, number: _summary_result(kind, entity, number)),
    # reversals (docs/corrections.md): cancellations and returns, keyed apart from the inventory
    ReceiptKind("CEB624Message", "InvtCancelReturn", ("copNo",), keys.inventory_cancel_key,
                answers="CEB623Message"),
    ReceiptKind("CEB626Message", "InvtRefundReturn", ("copNo",), keys.inventory_refund_key,
                answers="CEB625Message"),
    ReceiptKind("CEB606Message", "InvtCancelReturn", ("copNo",), keys.export_inventory_cancel_key,
                answers="CEB605Message"),
    ReceiptKind("CEB214Message", "RefundReturn", ("coElNo",), keys.export_refund_key, answers="CEB213Message"),
    # the other parties' messages of the 202205 set: waybill status, warehouse-entry list, return tally
    ReceiptKind("CEB514Message", "LogisticsStatusReturn", ("logisticsCode", "logisticsNo", "logisticsStatus"),
                keys.logistics_status_key, answers="CEB513Message"),
    ReceiptKind("CEB712Message", "DeliveryReturn", ("copNo",), keys.delivery_key, answers="CEB711Message"),
    ReceiptKind("CEB216Message", "InvtRefundDetailReturn", ("logisticsCode", "logisticsNo", "coElNo"),
                keys.return_tally_key, answers="CEB215Message"),
)

# Root spellings seen in the official samples besides ``CEBnnnMessage``: the 202205 CEB214 sample's
# root is ``ceb:CEB214``. Such a root is read as the message it names.
_SHORT_ROOT = re.compile(r"^CEB\d{3}$")

# General-trade receipts (not CEB): routed to gateway.declarations.dec_receipts.
DEC_RECEIPT_ROOTS = ("DecImportResponse", "DEC_DATA", "DEC_RESULT")

# One entry, four agencies (gateway/declarations/agency_receipts.py): our agency desks' answer to an
# inspection / tax / FX record, keyed by the record's message id; the customs tax bill of a CBEC
# inventory (CEB816) and its status (CEB818), keyed by invtNo and applied to the order's tax record.
RECEIPT_KINDS.update(_kinds(
    ReceiptKind("AgencyReceipt", "Return", ("messageId",), keys.message_key, answers_field="recordType",
                read=agency_receipts.agency_return, namespace=AGENCY_NS),
    ReceiptKind("CEB816Message", "Tax", ("invtNo",), keys.tax_bill_key, answers="TaxRecord",
                read=agency_receipts.tax_bill),
    ReceiptKind("CEB818Message", "Tax", ("invtNo",), keys.tax_bill_key, answers="TaxRecord",
                read=agency_receipts.tax_bill_status),
))

# The DXP exchange platform's answer to one of our transmissions (terminal-node XSD ``DxpRep``,
# ceb-messages.md §10.2, §4.4): one entry per Response, keyed by the transmission it answers
# (OriHead/CopMsgId = our message id). ResponseCode is a 4-digit DXP code (0001–9999 are errors).
DXP_NS = "http://www.chinaport.gov.cn/dxp"
RECEIPT_KINDS.update(_kinds(
    ReceiptKind("DxpRep", "Response", ("CopMsgId",), keys.message_key, answers_field="MsgType",
                read=lambda kind, entity, number: _dxp_response(kind, entity, number), namespace=DXP_NS),
))

# Same settings as gateway.signing's hardened parser: entity references stay unexpanded, nothing
# is fetched, no DTD is loaded. A DOCTYPE is refused after parsing (see _parse).
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, dtd_validation=False,
    attribute_defaults=False, remove_comments=True, remove_pis=True)


def parse_receipt(data: bytes) -> list[ReceiptEntry]:
    """Every return entity of one receipt message, in document order.

    Raises ``ReceiptUnreadable`` for non-XML, a DOCTYPE (entities), an unknown root, a root outside
    the CEB namespace, no return entity, or an entity without its status or key fields.
    """
    root = _parse(data)
    qname = etree.QName(root)
    if qname.localname in DEC_RECEIPT_ROOTS:
        return parse_dec_receipt(root)
    name = qname.localname + "Message" if _SHORT_ROOT.match(qname.localname) else qname.localname
    kind = RECEIPT_KINDS.get(name)
    if kind is None:
        raise ReceiptUnreadable(f"unknown receipt type {qname.localname!r}; known: {', '.join(sorted(RECEIPT_KINDS))}")
    if qname.namespace != kind.namespace:
        raise ReceiptUnreadable(f"{name} is in namespace {qname.namespace!r}, expected {kind.namespace!r}")
    entity_tag = f"{{{kind.namespace}}}{kind.entity}"
    entities = [child for child in root if child.tag == entity_tag]
    if not entities:
        raise ReceiptUnreadable(f"{kind.message_type} holds no {kind.entity}")
    entries = []
    for number, entity in enumerate(entities, start=1):
        entries.extend(kind.read(kind, entity, number) if kind.read else [_entry(kind, entity, number)])
    return entries


def _parse(data: bytes) -> etree._Element:
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise TypeError(f"parse_receipt takes the raw receipt bytes, got {type(data).__name__}")
    if len(data) > MAX_RECEIPT_BYTES:
        raise ReceiptUnreadable(f"receipt of {len(data)} bytes exceeds the {MAX_RECEIPT_BYTES}-byte limit")
    if not data.strip():
        raise ReceiptUnreadable("empty receipt")
    try:
        root = etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as e:
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
            raise ReceiptUnreadable(f"document type declarations (DOCTYPE, entities) are not accepted ({e})") from None
        raise ReceiptUnreadable(f"not well-formed XML: {e}") from None
    except ValueError as e:  # e.g. an unsupported encoding declaration
        raise ReceiptUnreadable(f"not readable as XML: {e}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise ReceiptUnreadable("document type declarations (DOCTYPE, entities) are not accepted")
    return root


def _entry(kind: ReceiptKind, entity: etree._Element, number: int) -> ReceiptEntry:
    fields = _fields(entity)
    where = f"{kind.message_type} {kind.entity} #{number}"
    status = fields.get("returnStatus", "")
    if not status:
        raise ReceiptUnreadable(f"{where} has no returnStatus")
    missing = [name for name in kind.key_fields if not fields.get(name)]
    if missing:
        raise ReceiptUnreadable(f"{where} lacks key field(s) {', '.join(missing)}")
    if kind.answers is not None:
        answers = kind.answers
    else:
        answers = fields.get(kind.answers_field or "", "")
        if not answers:
            raise ReceiptUnreadable(f"{where} lacks {kind.answers_field}")
    return ReceiptEntry(
        message_type=kind.message_type,
        answers=answers,
        business_key=kind.make_key(*(fields[name] for name in kind.key_fields)),
        status_code=status,
        status_time=fields.get("returnTime", ""),
        info=fields.get("returnInfo", ""),
        guid=fields.get("guid", ""),
        fields=fields,
    )



def _dxp_response(kind: ReceiptKind, entity: etree._Element, number: int) -> list[ReceiptEntry]:
    """DxpRep/Response: ResponseCode, ResponseInfo, Results/Result (RecId, Code, Info), NoticeTime
    (xs:date), OriHead (the TransInfo of our transmission: CopMsgId, MsgType)."""
    where = f"{kind.message_type} {kind.entity} #{number}"
    fields = _fields(entity, DXP_NS)
    head = entity.find(f"{{{DXP_NS}}}OriHead")
    if head is None:
        raise ReceiptUnreadable(f"{where} has no OriHead")
    fields.pop("OriHead", None)
    fields.update(_fields(head, DXP_NS))
    if not fields.get("ResponseCode"):
        raise ReceiptUnreadable(f"{where} has no ResponseCode")
    if not fields.get("CopMsgId"):
        raise ReceiptUnreadable(f"{where} lacks OriHead/CopMsgId")
    results = ["{} {} {}".format(*(r.findtext(f"{{{DXP_NS}}}{n}", "").strip() for n in ("RecId", "Code", "Info")))
               for r in entity.iter(f"{{{DXP_NS}}}Result")]
    info = "; ".join(filter(None, [fields.get("ResponseInfo", ""), *(x.strip() for x in results)]))
    return [ReceiptEntry(message_type=kind.message_type, answers=fields.get("MsgType", ""),
                         business_key=kind.make_key(fields["CopMsgId"]), status_code=fields["ResponseCode"],
                         status_time="".join(c for c in fields.get("NoticeTime", "") if c.isdigit()),
                         info=info, guid="", fields=fields)]


def _summary_result(kind: ReceiptKind, entity: etree._Element, number: int) -> list[ReceiptEntry]:
    """CEB792 SummaryResult: SummaryResultHead (sumNo, declSeqNo, entryId, decState ...) and 0..n
    SummaryResultList rows (invtNo, logisticsNo, gnum ...).

    The summary application (CEB701) of an order has the copNo ``keys.summary_cop_no(agentCode,
    ebcCode, logisticsNo)``, so each waybill the result lists gives one entry keyed like that
    summary; a result that lists no waybill gets one entry keyed by its sumNo. The status is
    decState (codes set by customs), the time opDate.
    """
    where = f"{kind.message_type} {kind.entity} #{number}"
    head = entity.find(f"{{{CEB_NS}}}SummaryResultHead")
    if head is None:
        raise ReceiptUnreadable(f"{where} has no SummaryResultHead")
    fields = _fields(head)
    missing = [name for name in kind.key_fields if not fields.get(name)]
    if missing:
        raise ReceiptUnreadable(f"{where} lacks key field(s) {', '.join(missing)}")
    status = fields.get("decState", "")
    if not status:
        raise ReceiptUnreadable(f"{where} has no decState")
    info = " ".join(f"{name} {fields[name]}" for name in ("sumNo", "declSeqNo", "entryId", "decState")
                    if fields.get(name))
    rows = [_fields(row) for row in entity.iterchildren(f"{{{CEB_NS}}}SummaryResultList")]
    keyed: dict[str, dict[str, str]] = {}
    for row in rows:
        if row.get("logisticsNo"):
            key = keys.summary_key(keys.summary_cop_no(fields["agentCode"], fields["ebcCode"], row["logisticsNo"]))
            keyed.setdefault(key, {**fields, "invtNo": row.get("invtNo", ""), "logisticsNo": row["logisticsNo"]})
    if not keyed:
        keyed[keys.summary_result_key(fields["sumNo"])] = fields
    return [ReceiptEntry(message_type=kind.message_type, answers=kind.answers or "", business_key=key,
                         status_code=status, status_time=fields.get("opDate", ""), info=info,
                         guid=fields.get("guid", ""), fields=entry_fields)
            for key, entry_fields in keyed.items()]
