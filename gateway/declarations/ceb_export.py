"""Builders of the export filings of a 9610 / 1210 / 1239 order (202205 standard, ceb-messages.md §6):
CEB303 order, CEB403 receipt of payment, CEB505 waybill, CEB603 inventory, CEB607 master/house bill
list, CEB507 arrival, CEB509 departure, CEB701 summary application.

Each builder: (order, context) -> lxml root, unsigned. Element order is the export XSD sequence; the
signature (appended when signing) goes right after BaseTransfer, i.e. before any ExtendMessage, which
we never send. Differences from import worth knowing: the CEB403 ``Receipts`` and CEB505 ``Logistics``
entities are flat (no head), amounts are in the order's currency (any customs currency code, not
only 142), and the head-and-list messages 507/509/607/701 carry msgCount/msgSeqNo, 1/1 when unsplit.
"""
from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from gateway.domain.cbec_export.order import ExportOrder
from gateway.domain.cbec_export.summary import SummaryApplication

from . import keys
from .common import (
    FilingContext,
    add_base_transfer,
    add_fields,
    ceb_date,
    ceb_time,
    head_and_list,
    head_start,
    new_root,
    packing,
    q,
)

ORDER_TYPE = "E"          # CEB303 orderType: E B2C export order (B: 9710 B2B, W: 9810 overseas warehouse)
EXPORT = "E"              # ieFlag
TOTAL = "3"               # fFlag / iFlag: 3 总价 (the official XSD fixes this value)
NO_BARCODE = "无"         # CEB603 barCode is required; the standard's literal for goods without one
BY_ITEM_NAME = "1"        # CEB701 itemNameFlag: summarise by the enterprise's item name
UNSPLIT = (("msgCount", 1), ("msgSeqNo", 1))

# copNo suffixes of the documents that follow the inventory (C..30: the inventory's 20 + 2)
_COP_SUFFIX = {"CEB607Message": "-W", "CEB507Message": "-A", "CEB509Message": "-D"}


def cop_no_for(message_type: str, order: ExportOrder, ctx: FilingContext) -> str:
    """The enterprise-internal number (copNo) of a filing of ``order``.

    CEB603: the context's copNo. CEB607/507/509: the same with a suffix (-W, -A, -D), so each document
    has its own number. CEB701: derived from declarant, consignor and waybill (``keys.summary_cop_no``),
    because the CEB792 summary result names only those.
    """
    if message_type == "CEB701Message":
        return keys.summary_cop_no(order.declarant.code, order.merchant.code, order.logistics.waybill_no)
    if not ctx.cop_no:
        raise ValueError(f"{message_type} needs the enterprise-internal number (copNo) in its context")
    return ctx.cop_no + _COP_SUFFIX.get(message_type, "")


def _declaration_date(order: ExportOrder, ctx: FilingContext) -> str:
    return order.export_date.strftime("%Y%m%d") if order.export_date else ceb_date(ctx.app_time)


def build_ceb303(order: ExportOrder, ctx: FilingContext) -> etree._Element:
    return head_and_list("CEB303Message", ctx, "Order", [
        ("orderType", ORDER_TYPE),
        ("orderNo", order.order_no),
        ("ebpCode", order.platform.code), ("ebpName", order.platform.name),
        ("ebcCode", order.merchant.code), ("ebcName", order.merchant.name),
        ("goodsValue", order.goods_value),
        ("freight", order.freight),
        ("currency", order.currency),
        ("note", order.note),
    ], ([
        ("gnum", line.number), ("itemNo", line.item_no), ("itemName", line.name),
        ("itemDescribe", line.description), ("barCode", line.barcode), ("unit", line.unit),
        ("currency", order.currency),
        ("qty", line.quantity), ("price", line.unit_price), ("totalPrice", line.total_price),
        ("note", line.note),
    ] for line in order.lines))


def build_ceb403(order: ExportOrder, ctx: FilingContext) -> etree._Element:
    root = new_root("CEB403Message", ctx.guid)
    receipt = etree.SubElement(root, q("Receipts"))       # flat: no head
    p = order.payment
    add_fields(receipt, head_start(ctx) + [
        ("ebpCode", order.platform.code), ("ebpName", order.platform.name),
        ("ebcCode", order.merchant.code), ("ebcName", order.merchant.name),
        ("orderNo", order.order_no),
        ("payCode", p.company.code), ("payName", p.company.name), ("payNo", p.transaction_no),
        ("charge", p.amount), ("currency", order.currency),
        ("accountingDate", ceb_time(p.received_at)),
    ])
    add_base_transfer(root, ctx.transfer)
    return root


def build_ceb505(order: ExportOrder, ctx: FilingContext) -> etree._Element:
    root = new_root("CEB505Message", ctx.guid)
    logistics = etree.SubElement(root, q("Logistics"))   # flat: no head on export
    lg = order.logistics
    add_fields(logistics, head_start(ctx) + [
        ("logisticsCode", lg.company.code), ("logisticsName", lg.company.name), ("logisticsNo", lg.waybill_no),
        ("freight", lg.freight), ("insuredFee", lg.insurance), ("currency", order.currency),
        ("grossWeight", lg.gross_weight), ("packNo", lg.packages), ("goodsInfo", lg.goods_info),
        ("ebcCode", order.merchant.code), ("ebcName", order.merchant.name),
    ])
    add_base_transfer(root, ctx.transfer)
    return root


def build_ceb603(order: ExportOrder, ctx: FilingContext) -> etree._Element:
    lg, zone = order.logistics, order.special_zone if order.is_special_zone else None
    return head_and_list("CEB603Message", ctx, "Inventory", [
        ("customsCode", order.customs_code),
        ("ebpCode", order.platform.code), ("ebpName", order.platform.name),
        ("orderNo", order.order_no),
        ("logisticsCode", lg.company.code), ("logisticsName", lg.company.name), ("logisticsNo", lg.waybill_no),
        ("copNo", cop_no_for("CEB603Message", order, ctx)),
        ("ieFlag", EXPORT),
        ("portCode", order.port_code),
        ("ieDate", _declaration_date(order, ctx)),
        ("statisticsFlag", order.statistics_flag),
        ("agentCode", order.declarant.code), ("agentName", order.declarant.name),
        ("ebcCode", order.merchant.code), ("ebcName", order.merchant.name),
        ("ownerCode", order.owner.code), ("ownerName", order.owner.name),
        ("iacCode", zone.enterprise.code if zone else None), ("iacName", zone.enterprise.name if zone else None),
        ("emsNo", zone.account_book_no if zone else None),
        ("tradeMode", order.regime),
        ("trafMode", lg.transport_mode),
        ("trafName", lg.conveyance_name), ("voyageNo", lg.voyage_no), ("billNo", lg.bill_no),
        ("totalPackageNo", lg.total_package_no),
        ("loctNo", order.supervision_site),
        ("licenseNo", order.license_no),
        ("country", lg.destination_country),
        ("POD", lg.destination_port),
        ("freight", lg.freight), ("fCurrency", order.currency), ("fFlag", TOTAL),
        ("insuredFee", lg.insurance), ("iCurrency", order.currency), ("iFlag", TOTAL),
        *packing(lg),
        ("note", order.note),
    ], ([
        ("gnum", line.number), ("itemNo", line.item_no),
        ("itemRecordNo", line.item_record_no if zone else None),
        ("itemName", line.name),
        ("gcode", line.hs_code), ("gname", line.name), ("gmodel", line.spec),
        ("barCode", line.barcode or NO_BARCODE),
        ("country", line.final_destination_country or lg.destination_country),
        ("currency", order.currency),
        ("qty", line.quantity), ("qty1", line.legal_quantity), ("qty2", line.second_quantity),
        ("unit", line.unit), ("unit1", line.legal_unit), ("unit2", line.second_unit),
        ("price", line.unit_price), ("totalPrice", line.total_price),
        ("note", line.note),
    ] for line in order.lines))


def _parcel_report(message_type: str, ctx: FilingContext, entity: str, head: list, parcel: list) -> etree._Element:
    """The frame of CEB607/507/509: the ``entity`` head (its fields, unsplit: msgCount/msgSeqNo 1/1) and
    one ``entity``List naming this order's one parcel."""
    return head_and_list(message_type, ctx, entity, head + list(UNSPLIT), [parcel])


def build_ceb607(order: ExportOrder, ctx: FilingContext) -> etree._Element:
    """清单总分单: links the master bill (billNo) to this order's waybill."""
    lg = order.logistics
    if not (lg.conveyance_name and lg.voyage_no and lg.bill_no):
        raise ValueError("a master/house bill list (CEB607) needs the conveyance name, voyage and bill number")
    return _parcel_report("CEB607Message", ctx, "WayBill", [
        ("customsCode", order.customs_code),
        ("copNo", cop_no_for("CEB607Message", order, ctx)),
        ("agentCode", order.declarant.code), ("agentName", order.declarant.name),
        ("loctNo", order.supervision_site),
        ("trafMode", lg.transport_mode), ("trafName", lg.conveyance_name), ("voyageNo", lg.voyage_no),
        ("billNo", lg.bill_no),
        ("domesticTrafNo", lg.domestic_conveyance_no),
        ("grossWeight", lg.gross_weight),
        ("logisticsCode", lg.company.code), ("logisticsName", lg.company.name),
    ], [
        ("gnum", 1), ("totalPackageNo", lg.total_package_no), ("logisticsNo", lg.waybill_no),
    ])


def build_ceb507(order: ExportOrder, ctx: FilingContext) -> etree._Element:
    """运抵单: the site operator reports the parcel arrived at the supervised site."""
    if order.arrival is None or not order.logistics.domestic_conveyance_no:
        raise ValueError("an arrival report (CEB507) needs the order's arrival data and domestic conveyance")
    lg, operator = order.logistics, order.arrival.operator
    return _parcel_report("CEB507Message", ctx, "Arrival", [
        ("customsCode", order.customs_code),
        ("copNo", cop_no_for("CEB507Message", order, ctx)),
        ("operatorCode", operator.code), ("operatorName", operator.name),
        ("loctNo", order.supervision_site),
        ("ieFlag", EXPORT),
        ("trafMode", lg.transport_mode),
        ("billNo", lg.bill_no),
        ("domesticTrafNo", lg.domestic_conveyance_no),
        ("logisticsCode", lg.company.code), ("logisticsName", lg.company.name),
    ], [
        ("gnum", 1), ("logisticsNo", lg.waybill_no), ("totalPackageNo", lg.total_package_no),
    ])


def build_ceb509(order: ExportOrder, ctx: FilingContext) -> etree._Element:
    """离境单: the carrier reports the conveyance left the country."""
    if order.departure is None:
        raise ValueError("a departure report (CEB509) needs the order's departure data")
    lg = order.logistics
    return _parcel_report("CEB509Message", ctx, "Departure", [
        ("customsCode", order.customs_code),
        ("copNo", cop_no_for("CEB509Message", order, ctx)),
        ("logisticsCode", lg.company.code), ("logisticsName", lg.company.name),
        ("trafMode", lg.transport_mode), ("trafName", lg.conveyance_name), ("voyageNo", lg.voyage_no),
        ("billNo", lg.bill_no),
        ("leaveTime", ceb_time(order.departure.left_at)),
    ], [
        ("gnum", 1), ("totalPackageNo", lg.total_package_no), ("logisticsNo", lg.waybill_no),
    ])


def _summary_apply(root: etree._Element, ctx: FilingContext, *, customs_code: str, cop_no: str, declarant, consignor,
                   declaration_agent, supervision_site: str | None, by_owner: bool,
                   inventory_numbers: Sequence[str] = (), window: str | None = None,
                   note: str | None = None) -> None:
    """One SummaryApply: the head, then a SummaryApplyList per inventory number (invtNo)."""
    wrapper = etree.SubElement(root, q("SummaryApply"))
    add_fields(etree.SubElement(wrapper, q("SummaryApplyHead")), head_start(ctx) + [
        ("customsCode", customs_code),
        ("copNo", cop_no),
        ("agentCode", declarant.code), ("agentName", declarant.name),
        ("ebcCode", consignor.code), ("ebcName", consignor.name),
        ("declAgentCode", declaration_agent.code), ("declAgentName", declaration_agent.name),
        ("startTime", window), ("endTime", window),
        ("loctNo", supervision_site),
        ("summaryFlag", "2" if by_owner else "1"),
        ("itemNameFlag", BY_ITEM_NAME),
        *UNSPLIT,
        ("note", note),
    ])
    for invt_no in inventory_numbers:
        add_fields(etree.SubElement(wrapper, q("SummaryApplyList")), [("invtNo", invt_no)])


def build_ceb701(order: ExportOrder, ctx: FilingContext,
                 inventory_numbers: Sequence[str] = ()) -> etree._Element:
    """汇总申请单 (statisticsFlag B) planned with an order.

    Given ``inventory_numbers`` it lists them (SummaryApplyList/invtNo, as the official sample does) and
    sends no time range. Planned with the order, the inventory's invtNo is not known yet (customs assigns
    it later), so without them it names the consignor's inventories declared at this order's appTime
    (startTime = endTime = appTime: "如指定时间范围将忽略表体数据"). That planned form is stored but not sent:
    the dispatcher builds it again with the inventory's number once customs gave it (docs/export.md "The
    order's summary", gateway/service/delivery/summaries.py). A summary of released inventories filed on
    its own is ``build_summary_application``.
    """
    if order.summary is None:
        raise ValueError("a summary application (CEB701) needs statistics_flag B")
    root = new_root("CEB701Message", ctx.guid)
    _summary_apply(root, ctx, customs_code=order.customs_code, cop_no=cop_no_for("CEB701Message", order, ctx),
                   declarant=order.declarant, consignor=order.merchant,
                   declaration_agent=order.summary.declaration_agent, supervision_site=order.supervision_site,
                   by_owner=order.summary.by_owner, inventory_numbers=inventory_numbers,
                   window=None if inventory_numbers else ceb_time(ctx.app_time))
    add_base_transfer(root, ctx.transfer)
    return root


def build_summary_application(application: SummaryApplication, ctx: FilingContext) -> etree._Element:
    """汇总申请单 on its own: the inventories listed by invtNo (never a time range), as the official sample."""
    if not application.inventories:
        raise ValueError("a summary application lists at least one inventory (invtNo)")
    root = new_root("CEB701Message", ctx.guid)
    _summary_apply(root, ctx, customs_code=application.customs_code, cop_no=application.summary_no,
                   declarant=application.declarant, consignor=application.consignor,
                   declaration_agent=application.declaration_agent,
                   supervision_site=application.supervision_site, by_owner=application.by_owner,
                   inventory_numbers=application.inventories, note=application.note)
    add_base_transfer(root, ctx.transfer)
    return root


def business_key(message_type: str, order: ExportOrder, ctx: FilingContext) -> str:
    """The key receipts for this filing will carry (see gateway.declarations.keys)."""
    lg = order.logistics
    if message_type == "CEB303Message":
        return keys.export_order_key(order.platform.code, order.merchant.code, order.order_no)
    if message_type == "CEB403Message":
        return keys.receipt_of_payment_key(order.merchant.code, order.order_no)
    if message_type == "CEB505Message":
        return keys.export_waybill_key(lg.company.code, lg.waybill_no)
    cop_no = cop_no_for(message_type, order, ctx)
    make = {"CEB603Message": keys.export_inventory_key, "CEB607Message": keys.bill_list_key,
            "CEB507Message": keys.arrival_key, "CEB509Message": keys.departure_key,
            "CEB701Message": keys.summary_key}.get(message_type)
    if make is None:
        raise KeyError(message_type)
    return make(cop_no)


BUILDERS = {
    "CEB303Message": build_ceb303,
    "CEB403Message": build_ceb403,
    "CEB505Message": build_ceb505,
    "CEB603Message": build_ceb603,
    "CEB607Message": build_ceb607,
    "CEB507Message": build_ceb507,
    "CEB509Message": build_ceb509,
    "CEB701Message": build_ceb701,
}
