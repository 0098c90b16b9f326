"""三单对碰 within our own output: before anything is signed, the order, payment, waybill and
inventory we built must agree with each other the way customs will compare them (§7.1).

A guard against builder bugs and mixed-up data; pure, works on the built lxml roots.
"""
from __future__ import annotations

from lxml import etree

from gateway.domain.problems import Problem

from .common import CEB_NS

_NS = {"c": CEB_NS}


_PREFIX = len(CEB_NS) + 2


def _fields(el: etree._Element | None) -> dict[str, str | None]:
    """An entity's child elements by local name (one pass; this runs for every order)."""
    if el is None:
        return {}
    return {child.tag[_PREFIX:]: child.text for child in el}


def _head(root: etree._Element, path: str) -> dict[str, str | None]:
    return _fields(root.find(path, _NS))


def _compare(problems: list, a_el, a_name: str, b_el, b_name: str, where_a: str, where_b: str) -> None:
    a, b = a_el.get(a_name), b_el.get(b_name)
    if a != b:
        problems.append(Problem(f"{where_b}/{b_name}", "three-document-match",
                                f"{where_b}/{b_name} {b!r} differs from {where_a}/{a_name} {a!r}"))


def check(messages: dict[str, etree._Element]) -> list[Problem]:
    """``messages`` maps message type (CEB311Message …) to its root. Missing types are skipped."""
    problems: list[Problem] = []
    order = messages.get("CEB311Message")
    if order is None:
        return problems
    oh = _head(order, "c:Order/c:OrderHead")
    W = "CEB311Message/OrderHead"

    payment = messages.get("CEB411Message")
    if payment is not None:
        ph = _head(payment, "c:Payment/c:PaymentHead")
        P = "CEB411Message/PaymentHead"
        _compare(problems, oh, "acturalPaid", ph, "amountPaid", W, P)
        for a, b in (("orderNo", "orderNo"), ("ebpCode", "ebpCode"), ("buyerIdType", "payerIdType"),
                     ("buyerIdNumber", "payerIdNumber"), ("payCode", "payCode"),
                     ("payTransactionId", "payTransactionId")):
            _compare(problems, oh, a, ph, b, W, P)

    waybill = messages.get("CEB511Message")
    if waybill is not None:
        lh = _head(waybill, "c:Logistics/c:LogisticsHead")
        L = "CEB511Message/LogisticsHead"
        for name in ("orderNo", "consignee", "consigneeTelephone", "consigneeAddress"):
            _compare(problems, oh, name, lh, name, W, L)

    inventory = messages.get("CEB621Message")
    if inventory is not None:
        ih = _head(inventory, "c:Inventory/c:InventoryHead")
        I = "CEB621Message/InventoryHead"
        for name in ("orderNo", "ebpCode", "ebcCode", "buyerIdType", "buyerIdNumber", "buyerName",
                     "buyerTelephone", "consigneeAddress"):
            _compare(problems, oh, name, ih, name, W, I)
        if waybill is not None:
            for name in ("logisticsCode", "logisticsNo", "freight", "insuredFee"):
                _compare(problems, lh, name, ih, name, L, I)
        order_lines = [_fields(x) for x in order.iterfind("c:Order/c:OrderList", _NS)]
        inv_lines = [_fields(x) for x in inventory.iterfind("c:Inventory/c:InventoryList", _NS)]
        if len(order_lines) != len(inv_lines):
            problems.append(Problem("CEB621Message/InventoryList", "three-document-match",
                                    f"{len(inv_lines)} inventory lines for {len(order_lines)} order lines"))
        for ol, il in zip(order_lines, inv_lines):
            n = ol.get("gnum")
            where_o, where_i = f"CEB311Message/OrderList[{n}]", f"CEB621Message/InventoryList[{n}]"
            for a, b in (("gnum", "gnum"), ("itemName", "gname"), ("qty", "qty"), ("unit", "unit"),
                         ("price", "price"), ("totalPrice", "totalPrice")):
                _compare(problems, ol, a, il, b, where_o, where_i)
    return problems
