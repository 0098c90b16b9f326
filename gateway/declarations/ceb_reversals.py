"""Builders of the reversal declarations (202205 standard; ceb-messages.md §5, §6; docs/corrections.md):
CEB623 import cancellation (撤销申请单), CEB625 import return (退货申请单), CEB605 export cancellation,
CEB213 export return (零售出口退货申请单).

Pure: (order, context, what is reversed) -> lxml root, unsigned. Element order is the XSD sequence; the
signature is appended when signing (CEB623/625 must carry one; the export schema puts it after
BaseSubscribe, which we never send, so appending is right on both sides).

What identifies the inventory: its copNo (ours), preNo (the e-port's) and invtNo (customs'), as the
official samples do (CEB605 repeats the inventory's copNo and invtNo; CEB623/625 carry copNo, preNo and
the original invtNo). The export return has its own number, coElNo (企业内部标识), because one inventory
may have several returns over the year the law allows.

Modifications and deletions (appType 2/3) need no builder of their own: they are the ordinary builders
(ceb_import, ceb_export) called with ``FilingContext(app_type="2"|"3")``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from gateway.domain.cbec_export.order import ExportOrder
from gateway.domain.cbec_import.order import Order
from gateway.domain.common.parties import Party
from gateway.domain.return_lines import share

from . import keys
from .common import FilingContext, add_base_transfer, add_fields, head_start, new_head_and_list, new_root, q

IMPORT_FLAG = "I"     # CEB213 ieFlag: "出口退货填写I" (the goods come in)


@dataclass(frozen=True)
class InventoryRef:
    """The inventory a cancellation or return names."""

    cop_no: str                # ours (enterprise-internal number)
    invt_no: str               # customs' inventory number (assigned at 120)
    pre_no: str | None = None  # the e-port's pre-entry number (18 characters), when known


@dataclass(frozen=True)
class RefundLine:
    """One returned line: the inventory line number (gnum) and the quantity returned (≤ the line's)."""

    gnum: int
    quantity: Decimal


@dataclass(frozen=True)
class ReturnShipment:
    """How exported goods come back (CEB213): the carrier and conveyance of the return trip."""

    logistics: Party           # the carrier bringing the goods back (may be the original one)
    waybill_no: str            # its waybill (may be the original export waybill)
    bill_no: str               # bill of lading / master air waybill; the waybill when there is none
    transport_mode: str
    conveyance_name: str
    voyage_no: str
    port_code: str             # customs office of the port of entry
    country: str               # 启运国: where the goods come back from (not 142)
    supervision_site: str | None = None


def _line(order, gnum: int):
    for line in order.lines:
        if line.number == gnum:
            return line
    raise ValueError(f"order {order.order_no} has no line {gnum}")


def _reason(reason: str, limit: int) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a reversal needs a reason (撤单原因 / 退货原因)")
    if len(reason) > limit:
        raise ValueError(f"the reason has {len(reason)} characters, at most {limit}")
    return reason


def _import_reversal_fields(order: Order, inventory: InventoryRef, reason: str, note: str | None) -> list:
    """What CEB623 (cancel) and CEB625 (return) say of the inventory they act on, in the XSD's order."""
    lg, b = order.logistics, order.buyer
    return [
        ("customsCode", order.customs_code),
        ("orderNo", order.order_no),
        ("ebpCode", order.platform.code), ("ebpName", order.platform.name),
        ("ebcCode", order.merchant.code), ("ebcName", order.merchant.name),
        ("logisticsNo", lg.waybill_no), ("logisticsCode", lg.company.code), ("logisticsName", lg.company.name),
        ("copNo", inventory.cop_no), ("preNo", inventory.pre_no), ("invtNo", inventory.invt_no),
        ("buyerIdType", b.id_type), ("buyerIdNumber", b.id_number), ("buyerName", b.name),
        ("buyerTelephone", b.telephone),
        ("agentCode", order.declarant.code), ("agentName", order.declarant.name),
        ("reason", _reason(reason, 1000)),
        ("note", note),
    ]


def build_ceb623(order: Order, ctx: FilingContext, inventory: InventoryRef, reason: str,
                 note: str | None = None) -> etree._Element:
    """撤销申请单: cancel a released import inventory (appType 1, the only one CEB623 allows)."""
    root = new_root("CEB623Message", ctx.guid)
    cancel = etree.SubElement(root, q("InvtCancel"))          # flat entity
    add_fields(cancel, head_start(ctx) + _import_reversal_fields(order, inventory, reason, note))
    add_base_transfer(root, ctx.transfer)
    return root


def build_ceb625(order: Order, ctx: FilingContext, inventory: InventoryRef, reason: str,
                 lines: Sequence[RefundLine], note: str | None = None) -> etree._Element:
    """退货申请单: return goods of a released import inventory (2020 No.45), line by line."""
    if not lines:
        raise ValueError("a return lists at least one line")
    root, wrapper, head = new_head_and_list("CEB625Message", ctx, "InvtRefund")
    add_fields(head, head_start(ctx) + _import_reversal_fields(order, inventory, reason, note))
    for returned in lines:
        line = _line(order, returned.gnum)
        if not 0 < returned.quantity <= line.quantity:
            raise ValueError(f"line {returned.gnum}: return quantity {returned.quantity} is not in (0, {line.quantity}]")
        add_fields(etree.SubElement(wrapper, q("InvtRefundList")), [
            ("gnum", line.number), ("gcode", line.hs_code), ("gname", line.name),
            ("qty", returned.quantity), ("unit", line.unit),
        ])
    add_base_transfer(root, ctx.transfer)
    return root


def build_ceb605(order: ExportOrder, ctx: FilingContext, inventory: InventoryRef, reason: str,
                 note: str | None = None) -> etree._Element:
    """撤销申请单 (export): cancel an export inventory whose goods have not left."""
    root = new_root("CEB605Message", ctx.guid)
    cancel = etree.SubElement(root, q("InvtCancel"))          # flat entity
    add_fields(cancel, head_start(ctx) + [
        ("customsCode", order.customs_code),
        ("copNo", inventory.cop_no), ("preNo", inventory.pre_no), ("invtNo", inventory.invt_no),
        ("reason", _reason(reason, 1000)),
        ("agentCode", order.declarant.code), ("agentName", order.declarant.name),
        ("ebcCode", order.merchant.code), ("ebcName", order.merchant.name),
        ("note", note),
    ])
    add_base_transfer(root, ctx.transfer)
    return root


def build_ceb213(order: ExportOrder, ctx: FilingContext, inventory: InventoryRef, reason: str,
                 lines: Sequence[RefundLine], shipment: ReturnShipment, note: str | None = None) -> etree._Element:
    """零售出口退货申请单 (2020 No.44): exported goods come back. ``ctx.cop_no`` is the return's own number
    (coElNo); legal quantities of a partial line are its share of the line's (5 decimals, half up)."""
    if not ctx.cop_no:
        raise ValueError("an export return needs its own number (coElNo) in the context's cop_no")
    if not lines:
        raise ValueError("a return lists at least one line")
    root, wrapper, head = new_head_and_list("CEB213Message", ctx, "InvtRefund")
    add_fields(head, head_start(ctx) + [
        ("customsCode", order.customs_code),
        ("loctNo", shipment.supervision_site),
        ("ebpCode", order.platform.code), ("ebpName", order.platform.name),
        ("ebcCode", order.merchant.code), ("ebcName", order.merchant.name),
        ("logisticsNo", shipment.waybill_no),
        ("logisticsCode", shipment.logistics.code), ("logisticsName", shipment.logistics.name),
        ("coElNo", ctx.cop_no), ("preNo", None), ("invtNo", inventory.invt_no),
        ("tradeMode", order.regime),
        ("agentCode", order.declarant.code), ("agentName", order.declarant.name),
        ("billNo", shipment.bill_no),
        ("ieFlag", IMPORT_FLAG),
        ("trafMode", shipment.transport_mode), ("trafName", shipment.conveyance_name),
        ("portCode", shipment.port_code),
        ("reason", _reason(reason, 500)),
        ("country", shipment.country),
        ("voyageNo", shipment.voyage_no),
        ("note", note),
    ])
    for returned in lines:
        line = _line(order, returned.gnum)
        if not 0 < returned.quantity <= line.quantity:
            raise ValueError(f"line {returned.gnum}: return quantity {returned.quantity} is not in (0, {line.quantity}]")
        second = (share(line.second_quantity, returned.quantity, line.quantity)
                  if line.second_quantity is not None else None)
        add_fields(etree.SubElement(wrapper, q("InvtRefundList")), [
            ("gnum", line.number), ("gcode", line.hs_code), ("gname", line.name), ("gmodel", line.spec),
            ("qty", returned.quantity), ("qty1", share(line.legal_quantity, returned.quantity, line.quantity)),
            ("unit", line.unit), ("unit1", line.legal_unit),
            ("qty2", second), ("unit2", line.second_unit if second is not None else None),
        ])
    add_base_transfer(root, ctx.transfer)
    return root


def reversal_key(message_type: str, inventory: InventoryRef, co_el_no: str | None = None) -> str:
    """The key the reversal's receipts carry (gateway.declarations.keys)."""
    if message_type == "CEB623Message":
        return keys.inventory_cancel_key(inventory.cop_no)
    if message_type == "CEB625Message":
        return keys.inventory_refund_key(inventory.cop_no)
    if message_type == "CEB605Message":
        return keys.export_inventory_cancel_key(inventory.cop_no)
    if message_type == "CEB213Message":
        if not co_el_no:
            raise ValueError("an export return is keyed by its own number (coElNo)")
        return keys.export_refund_key(co_el_no)
    raise KeyError(message_type)

