"""Receipts of the other agencies (pure): bytes already parsed by ``receipts.parse_receipt`` -> entries.

AgencyReceipt (our own format, ``gateway/schemas/agency-receipt.xsd``, namespace urn:gateway:agency:1)::

    <AgencyReceipt xmlns="urn:gateway:agency:1" guid="…" version="1.0">
      <Return>
        <guid>…</guid>
        <messageId>the record's guid</messageId>      business key: keys.message_key(messageId)
        <recordType>InspectionRecord</recordType>     InspectionRecord | TaxRecord | RebateRecord | FxRecord
        <agency>inspection</agency>                   inspection | tax | fx
        <reference>order no.</reference>              optional
        <status>accepted</status>                     accepted | inspection | released | rejected
        <time>20261120100005000</time>                YYYYMMDDhhmmssSSS (China)
        <info>…</info>                                why, in words
      </Return>
    </AgencyReceipt>

CEB816 电子税单 (customs; ceb-messages.md §5): ``Tax`` = TaxHeadRd (invtNo, taxNo, customsTax,
valueAddedTax, consumptionTax, status 1/2/3 …) + 1..99 TaxListRd (gnum, gcode, taxPrice, customsTax,
valueAddedTax, consumptionTax). One entry per Tax, keyed ``keys.tax_bill_key(invtNo)``; its fields are
the head's, plus ``line.<gnum>.<name>`` for every item value. CEB818 (status only): the same key, the
TaxHeadStatus fields. Unknown elements (the PDF's orderNo / logisticNo) are kept, never refused.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from lxml import etree

from . import keys
from .receipt_entries import CEB_NS, ReceiptEntry, ReceiptKind, ReceiptUnreadable, _fields

AGENCY_STATUSES = ("accepted", "inspection", "released", "rejected")
TAX_AMOUNTS = ("customsTax", "valueAddedTax", "consumptionTax")
LINE_AMOUNTS = ("taxPrice", "customsTax", "valueAddedTax", "consumptionTax")


def agency_return(kind: ReceiptKind, entity: etree._Element, number: int) -> list[ReceiptEntry]:
    where = f"{kind.message_type} {kind.entity} #{number}"
    fields = _fields(entity, kind.namespace)
    for name in ("messageId", "recordType", "status"):
        if not fields.get(name):
            raise ReceiptUnreadable(f"{where} lacks {name}")
    if fields["status"] not in AGENCY_STATUSES:
        raise ReceiptUnreadable(f"{where}: status {fields['status']!r} is none of {', '.join(AGENCY_STATUSES)}")
    return [ReceiptEntry(message_type=kind.message_type, answers=fields["recordType"],
                         business_key=keys.message_key(fields["messageId"]), status_code=fields["status"],
                         status_time=fields.get("time", ""), info=fields.get("info", ""),
                         guid=fields.get("guid", ""), fields=fields)]


def _amount(where: str, name: str, text: str) -> str:
    try:
        Decimal(text)
    except InvalidOperation:
        raise ReceiptUnreadable(f"{where}: {name} {text!r} is not a decimal") from None
    return text


def _tax_head(kind: ReceiptKind, entity: etree._Element, number: int, tag: str,
              required: tuple[str, ...], amounts: tuple[str, ...] = ()) -> tuple[str, dict[str, str]]:
    """Where we are (for the problem text) and the fields of the entity's ``tag`` head, which must
    carry every name in ``required`` (those in ``amounts`` as decimals)."""
    where = f"{kind.message_type} {kind.entity} #{number}"
    head = entity.find(f"{{{CEB_NS}}}{tag}")
    if head is None:
        raise ReceiptUnreadable(f"{where} has no {tag}")
    fields = _fields(head)
    for name in required:
        if not fields.get(name):
            raise ReceiptUnreadable(f"{where} lacks {name}")
        if name in amounts:
            _amount(where, name, fields[name])
    return where, fields


def _tax_entry(kind: ReceiptKind, fields: dict[str, str], info_names: tuple[str, ...]) -> list[ReceiptEntry]:
    """The one entry of a CEB816 / CEB818: keyed by the inventory's tax bill, ``info`` names ``info_names``."""
    info = " ".join(f"{name} {fields[name]}" for name in info_names if fields.get(name))
    return [ReceiptEntry(message_type=kind.message_type, answers=kind.answers or "TaxRecord",
                         business_key=keys.tax_bill_key(fields["invtNo"]), status_code=fields["status"],
                         status_time=fields.get("returnTime", ""), info=info, guid=fields.get("guid", ""),
                         fields=fields)]


def tax_bill(kind: ReceiptKind, entity: etree._Element, number: int) -> list[ReceiptEntry]:
    where, fields = _tax_head(kind, entity, number, "TaxHeadRd", ("invtNo", "taxNo", "status", *TAX_AMOUNTS),
                              TAX_AMOUNTS)
    for row in entity.iterchildren(f"{{{CEB_NS}}}TaxListRd"):
        item = _fields(row)
        gnum = item.get("gnum", "")
        if not gnum:
            raise ReceiptUnreadable(f"{where}: a TaxListRd lacks gnum")
        for name, value in item.items():
            if name in LINE_AMOUNTS:
                _amount(where, f"TaxListRd {gnum} {name}", value)
            fields[f"line.{gnum}.{name}"] = value
    return _tax_entry(kind, fields, ("taxNo", *TAX_AMOUNTS))


def tax_bill_status(kind: ReceiptKind, entity: etree._Element, number: int) -> list[ReceiptEntry]:
    _, fields = _tax_head(kind, entity, number, "TaxHeadStatus", ("invtNo", "taxNo", "status"))
    return _tax_entry(kind, fields, ("taxNo", "status", "entDutyNo"))


def bill_amounts(fields: dict[str, str]) -> dict:
    """The amounts of a parsed CEB816 entry (``ReceiptEntry.fields`` or the stored receipt event's
    ``parsed`` JSON) as Decimals: {"duty", "vat", "consumption_tax", "total", "lines": {gnum: {...}}}."""
    d = {name: Decimal(fields.get(name) or "0") for name in TAX_AMOUNTS}
    lines: dict[int, dict] = {}
    for key, value in fields.items():
        if key.startswith("line."):
            _, gnum, name = key.split(".", 2)
            if name in LINE_AMOUNTS:
                lines.setdefault(int(gnum), {})[name] = Decimal(value)
    return {"duty": d["customsTax"], "vat": d["valueAddedTax"], "consumption_tax": d["consumptionTax"],
            "total": d["customsTax"] + d["valueAddedTax"] + d["consumptionTax"], "lines": lines}
