"""Builders of the filings of the other parties a one-stop provider files for (202205 standard,
ceb-messages.md §5, §6; docs/site-filings.md): CEB513 waybill status (the carrier), CEB711 entry list of
direct-mail parcels (the supervised-site operator, import) and CEB215 return tally (the supervised-site
operator, export returns).

Pure: (input, context) -> lxml root, unsigned. Element order is the XSD sequence; the signature is
appended when signing (right after BaseTransfer: CEB711 must carry one; for CEB215 the export schema puts
it before ExtendMessage, which we never send).

CEB513 and CEB215 are flat entities, 1..100 a message, each with its own guid: the first is the message's
guid (as in every builder), the others are derived from it (``entity_guid``), so a replay with the same
context rebuilds the same bytes.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from lxml import etree

from gateway.domain.site_filings import IMPORT, EntryList, LogisticsStatusReport, ReturnTally

from . import keys
from .common import FilingContext, add_base_transfer, add_fields, ceb_time, head_start, new_root, q

_GUIDS = uuid.UUID("7d0c8f0e-5b1a-4c4e-9a53-2f1b6c0e5130")    # namespace of derived entity guids


def entity_guid(message_guid: str, index: int) -> str:
    """The guid of the entity at ``index`` of a message: the message's own for the first, a name-based
    UUID of (message guid, index) for the others (upper case, as the standard asks)."""
    if index == 0:
        return message_guid
    return str(uuid.uuid5(_GUIDS, f"{message_guid}/{index}")).upper()


def _entity_start(ctx: FilingContext, index: int) -> list:
    start = head_start(ctx)
    start[0] = ("guid", entity_guid(ctx.guid, index))
    return start


def build_ceb513(report: LogisticsStatusReport, ctx: FilingContext) -> etree._Element:
    """物流运单状态: the carrier reports its parcels signed for (logisticsStatus S)."""
    root = new_root("CEB513Message", ctx.guid)
    lg = report.logistics
    for i, s in enumerate(report.statuses):
        add_fields(etree.SubElement(root, q("LogisticsStatus")), _entity_start(ctx, i) + [
            ("logisticsCode", lg.code), ("logisticsName", lg.name), ("logisticsNo", s.waybill_no),
            ("logisticsStatus", s.status),
            ("logisticsTime", ceb_time(s.signed_at)),
            ("note", s.note),
        ])
    add_base_transfer(root, ctx.transfer)
    return root


def build_ceb711(entry: EntryList, ctx: FilingContext) -> etree._Element:
    """入库明细单: the site operator lists the direct-mail parcels of one bill of lading that entered."""
    root = new_root("CEB711Message", ctx.guid)
    delivery = etree.SubElement(root, q("Delivery"))
    add_fields(etree.SubElement(delivery, q("DeliveryHead")), head_start(ctx) + [
        ("customsCode", entry.customs_code),
        ("copNo", entry.entry_no),
        ("operatorCode", entry.operator.code), ("operatorName", entry.operator.name),
        ("ieFlag", IMPORT),
        ("trafMode", entry.transport_mode), ("trafNo", entry.conveyance_no), ("voyageNo", entry.voyage_no),
        ("billNo", entry.bill_no),
        ("logisticsCode", entry.logistics.code), ("logisticsName", entry.logistics.name),
        ("unloadLocation", entry.unload_location),
        ("note", entry.note),
    ])
    for gnum, parcel in enumerate(entry.parcels, start=1):
        add_fields(etree.SubElement(delivery, q("DeliveryList")), [
            ("gnum", gnum), ("logisticsNo", parcel.waybill_no), ("note", parcel.note),
        ])
    add_base_transfer(root, ctx.transfer)
    return root


def build_ceb215(tally: ReturnTally, ctx: FilingContext) -> etree._Element:
    """理货明细单: the site operator tallies returned export parcels on arrival (ieFlag I)."""
    root = new_root("CEB215Message", ctx.guid)
    for i, parcel in enumerate(tally.parcels):
        add_fields(etree.SubElement(root, q("InvtRefundDetail")), _entity_start(ctx, i) + [
            ("customsCode", tally.customs_code),
            ("operatorCode", tally.operator.code), ("operatorName", tally.operator.name),
            ("logisticsCode", tally.logistics.code), ("logisticsName", tally.logistics.name),
            ("logisticsNo", parcel.waybill_no),
            ("invtNo", parcel.invt_no),
            ("coElNo", parcel.return_no),
            ("preNo", parcel.pre_no),
            ("billNo", tally.bill_no),
            ("ieFlag", IMPORT),
            ("trafMode", tally.transport_mode), ("trafName", tally.conveyance_name),
            ("voyageNo", tally.voyage_no),
            ("location", tally.location),
            ("note", parcel.note or tally.note),
        ])
    add_base_transfer(root, ctx.transfer)
    return root


def business_keys(message_type: str, document) -> list[str]:
    """The keys the receipts of this filing carry (gateway.declarations.keys), one per entity: a
    CEB514 per waybill status, one CEB712 for the entry list, a CEB216 per tallied parcel."""
    if message_type == "CEB513Message":
        return [keys.logistics_status_key(document.logistics.code, s.waybill_no, s.status)
                for s in document.statuses]
    if message_type == "CEB711Message":
        return [keys.delivery_key(document.entry_no)]
    if message_type == "CEB215Message":
        return [keys.return_tally_key(document.logistics.code, p.waybill_no, p.return_no)
                for p in document.parcels]
    raise KeyError(message_type)


BUILDERS: dict[str, Callable[[Any, FilingContext], etree._Element]] = {
    "CEB513Message": build_ceb513,
    "CEB711Message": build_ceb711,
    "CEB215Message": build_ceb215,
}
