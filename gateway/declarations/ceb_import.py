"""Builders of the four import filings of a 1210/9610 order (202205 standard, ceb-messages.md §5):
CEB311 order, CEB411 payment, CEB511 waybill, CEB621 inventory.

Each builder: (order, context) -> lxml root, unsigned. Element order is the XSD sequence.
"""
from __future__ import annotations

from lxml import etree

from gateway.domain.cbec_import.order import Order
from gateway.domain.common.money import CNY

from . import keys
from .common import FilingContext, ceb_date, ceb_time, head_and_list, packing


def build_ceb311(order: Order, ctx: FilingContext) -> etree._Element:
    b, c, p = order.buyer, order.consignee, order.payment
    return head_and_list("CEB311Message", ctx, "Order", [
        ("orderType", "I"),
        ("orderNo", order.order_no),
        ("ebpCode", order.platform.code), ("ebpName", order.platform.name),
        ("ebcCode", order.merchant.code), ("ebcName", order.merchant.name),
        ("goodsValue", order.goods_value),
        ("freight", order.freight),
        ("discount", order.discount),
        ("taxTotal", order.tax_withheld),
        ("acturalPaid", order.actual_paid),
        ("currency", CNY),
        ("buyerRegNo", b.registration_no), ("buyerName", b.name), ("buyerTelephone", b.telephone),
        ("buyerIdType", b.id_type), ("buyerIdNumber", b.id_number),
        ("payCode", p.company.code), ("payName", p.company.name), ("payTransactionId", p.transaction_no),
        ("batchNumbers", order.batch_numbers),
        ("consignee", c.name), ("consigneeTelephone", c.telephone), ("consigneeAddress", c.address),
        ("consigneeDistrict", c.district),
        ("note", order.note),
    ], ([
        ("gnum", line.number), ("itemNo", line.item_no), ("itemName", line.name), ("gmodel", line.spec),
        ("itemDescribe", line.description), ("barCode", line.barcode), ("unit", line.unit),
        ("qty", line.quantity), ("price", line.unit_price), ("totalPrice", line.total_price),
        ("currency", CNY), ("country", line.origin_country), ("note", line.note),
    ] for line in order.lines))


def build_ceb411(order: Order, ctx: FilingContext) -> etree._Element:
    p = order.payment
    return head_and_list("CEB411Message", ctx, "Payment", [
        ("payCode", p.company.code), ("payName", p.company.name), ("payTransactionId", p.transaction_no),
        ("orderNo", order.order_no),
        ("ebpCode", order.platform.code), ("ebpName", order.platform.name),
        ("payerIdType", p.payer.id_type), ("payerIdNumber", p.payer.id_number), ("payerName", p.payer.name),
        ("telephone", p.payer.telephone),
        ("amountPaid", p.amount), ("currency", CNY), ("payTime", ceb_time(p.paid_at)),
    ])


def build_ceb511(order: Order, ctx: FilingContext) -> etree._Element:
    lg, c = order.logistics, order.consignee
    return head_and_list("CEB511Message", ctx, "Logistics", [
        ("logisticsCode", lg.company.code), ("logisticsName", lg.company.name), ("logisticsNo", lg.waybill_no),
        ("billNo", lg.bill_no),
        ("orderNo", order.order_no),
        ("freight", lg.freight), ("insuredFee", lg.insurance), ("currency", CNY),
        ("weight", lg.gross_weight), ("packNo", lg.packages), ("goodsInfo", lg.goods_info),
        ("consignee", c.name), ("consigneeAddress", c.address), ("consigneeTelephone", c.telephone),
    ])


def build_ceb621(order: Order, ctx: FilingContext) -> etree._Element:
    if not ctx.cop_no:
        raise ValueError("an inventory needs the enterprise-internal number (copNo) in its context")
    lg, b, bonded = order.logistics, order.buyer, order.bonded
    direct = order.regime == "9610"
    return head_and_list("CEB621Message", ctx, "Inventory", [
        ("orderNo", order.order_no),
        ("ebpCode", order.platform.code), ("ebpName", order.platform.name),
        ("ebcCode", order.merchant.code), ("ebcName", order.merchant.name),
        ("logisticsNo", lg.waybill_no), ("logisticsCode", lg.company.code), ("logisticsName", lg.company.name),
        ("copNo", ctx.cop_no),
        ("assureCode", order.guarantor_code),
        ("emsNo", bonded.account_book_no if bonded else None),
        ("ieFlag", "I"),
        ("declTime", ceb_date(ctx.app_time)),
        ("customsCode", order.customs_code), ("portCode", order.port_code),
        ("buyerIdType", b.id_type), ("buyerIdNumber", b.id_number), ("buyerName", b.name),
        ("buyerTelephone", b.telephone),
        ("consigneeAddress", order.consignee.address),
        ("agentCode", order.declarant.code), ("agentName", order.declarant.name),
        ("areaCode", bonded.area.code if bonded else None), ("areaName", bonded.area.name if bonded else None),
        ("tradeMode", order.regime),
        ("trafMode", lg.transport_mode),
        ("trafNo", lg.conveyance_no if direct else None),
        ("voyageNo", lg.voyage_no if direct else None),
        ("billNo", lg.bill_no if direct else None),
        ("loctNo", order.supervision_site),
        ("licenseNo", order.license_no),
        ("country", lg.shipping_country if direct else "142"),
        ("freight", lg.freight), ("insuredFee", lg.insurance), ("currency", CNY),
        *packing(lg),
        ("note", order.note),
    ], ([
        ("gnum", line.number),
        ("itemRecordNo", line.item_record_no if order.is_bonded else None),
        ("itemNo", line.item_no), ("itemName", line.name),
        ("gcode", line.hs_code), ("gname", line.name), ("gmodel", line.spec),
        ("barCode", line.barcode),
        ("country", line.origin_country), ("tradeCountry", line.trade_country),
        ("currency", CNY),
        ("qty", line.quantity), ("unit", line.unit),
        ("qty1", line.legal_quantity), ("unit1", line.legal_unit),
        ("qty2", line.second_quantity), ("unit2", line.second_unit),
        ("price", line.unit_price), ("totalPrice", line.total_price),
        ("note", line.note),
    ] for line in order.lines))


def business_key(message_type: str, order: Order, ctx: FilingContext) -> str:
    """The key receipts for this filing will carry (see gateway.declarations.keys)."""
    if message_type == "CEB311Message":
        return keys.order_key(order.platform.code, order.merchant.code, order.order_no)
    if message_type == "CEB411Message":
        return keys.payment_key(order.payment.company.code, order.payment.transaction_no)
    if message_type == "CEB511Message":
        return keys.waybill_key(order.logistics.company.code, order.logistics.waybill_no)
    if message_type == "CEB621Message":
        return keys.inventory_key(ctx.cop_no or "")
    raise KeyError(message_type)


BUILDERS = {
    "CEB311Message": build_ceb311,
    "CEB411Message": build_ceb411,
    "CEB511Message": build_ceb511,
    "CEB621Message": build_ceb621,
}
