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


def _compare(problems: list, a_fields: dict, a_name: str, b_fields: dict, b_name: str, where_a: str,
             where_b: str) -> None:
    a, b = a_fields.get(a_name), b_fields.get(b_name)
    if a != b:
        problems.append(Problem(f"{where_b}/{b_name}", "three-document-match",
                                f"{where_b}/{b_name} {b!r} differs from {where_a}/{a_name} {a!r}"))


def _compare_lines(problems: list, fields, order: etree._Element, order_type: str, inventory: etree._Element,
                   inventory_type: str, pairs) -> None:
    """The order's lines (OrderList) against the inventory's (InventoryList), line by line: the count, then
    each (order name, inventory name) of ``pairs``. ``fields``: element -> {local name: text}."""
    order_lines = [fields(x) for x in order.iterfind("c:Order/c:OrderList", _NS)]
    inv_lines = [fields(x) for x in inventory.iterfind("c:Inventory/c:InventoryList", _NS)]
    if len(order_lines) != len(inv_lines):
        problems.append(Problem(f"{inventory_type}/InventoryList", "three-document-match",
                                f"{len(inv_lines)} inventory lines for {len(order_lines)} order lines"))
    for ol, il in zip(order_lines, inv_lines, strict=False):   # a count mismatch is reported above
        n = ol.get("gnum")
        where_o, where_i = f"{order_type}/OrderList[{n}]", f"{inventory_type}/InventoryList[{n}]"
        for a, b in pairs:
            _compare(problems, ol, a, il, b, where_o, where_i)


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
        V = "CEB621Message/InventoryHead"
        for name in ("orderNo", "ebpCode", "ebcCode", "buyerIdType", "buyerIdNumber", "buyerName",
                     "buyerTelephone", "consigneeAddress"):
            _compare(problems, oh, name, ih, name, W, V)
        if waybill is not None:
            for name in ("logisticsCode", "logisticsNo", "freight", "insuredFee"):
                _compare(problems, lh, name, ih, name, L, V)
        _compare_lines(problems, _fields, order, "CEB311Message", inventory, "CEB621Message",
                       (("gnum", "gnum"), ("itemName", "gname"), ("qty", "qty"), ("unit", "unit"),
                        ("price", "price"), ("totalPrice", "totalPrice")))
    return problems



# -- export ---------------------------------------------------------------------------------------
# Its own element -> {local name: text} (it passes over comments and other non-elements); the comparison
# of two fields and of the goods lines is the import's.

def _xfields(el: etree._Element | None) -> dict[str, str | None]:
    if el is None:
        return {}
    return {etree.QName(child).localname: child.text for child in el if isinstance(child.tag, str)}


def _xhead(root: etree._Element | None, path: str) -> dict[str, str | None] | None:
    if root is None:
        return None
    return _xfields(root.find(path, _NS))


def check_export(messages: dict[str, etree._Element]) -> list[Problem]:
    """三单对碰 on export (9610, 1210/1239): the order (CEB303), the receipt of payment (CEB403) and the
    waybill (CEB505) against the inventory (CEB603), plus the documents that follow the inventory
    (CEB607 bill list, CEB507 arrival, CEB509 departure, CEB701 summary). Missing types are skipped."""
    problems: list[Problem] = []
    order, inventory = messages.get("CEB303Message"), messages.get("CEB603Message")
    OH, IH = "CEB303Message/OrderHead", "CEB603Message/InventoryHead"
    R, L = "CEB403Message/Receipts", "CEB505Message/Logistics"
    oh = _xhead(order, "c:Order/c:OrderHead")
    ih = _xhead(inventory, "c:Inventory/c:InventoryHead")
    rh = _xhead(messages.get("CEB403Message"), "c:Receipts")
    lh = _xhead(messages.get("CEB505Message"), "c:Logistics")

    if oh is not None and rh is not None:
        for name in ("orderNo", "ebpCode", "ebcCode", "currency"):
            _compare(problems, oh, name, rh, name, OH, R)
    if oh is not None and lh is not None:
        for name in ("ebcCode", "currency"):
            _compare(problems, oh, name, lh, name, OH, L)
    if inventory is None or ih is None:
        return problems
    if order is not None and oh is not None:
        for name in ("orderNo", "ebpCode", "ebcCode", "freight"):
            _compare(problems, oh, name, ih, name, OH, IH)
        _compare(problems, oh, "currency", ih, "fCurrency", OH, IH)
        _compare_lines(problems, _xfields, order, "CEB303Message", inventory, "CEB603Message",
                       [(name, name) for name in ("gnum", "itemNo", "itemName", "qty", "unit", "price",
                                                  "totalPrice", "currency")])
    if rh is not None:
        for name in ("orderNo", "ebpCode", "ebcCode"):
            _compare(problems, rh, name, ih, name, R, IH)
    if lh is not None:
        for name in ("logisticsCode", "logisticsNo", "freight", "insuredFee", "grossWeight", "packNo"):
            _compare(problems, lh, name, ih, name, L, IH)

    # The bill list, arrival and departure name the inventory's waybill, bill and parties.
    for message_type, head_path, list_path, same in (
        ("CEB607Message", "c:WayBill/c:WayBillHead", "c:WayBill/c:WayBillList",
         ("customsCode", "agentCode", "logisticsCode", "billNo", "trafMode")),
        ("CEB507Message", "c:Arrival/c:ArrivalHead", "c:Arrival/c:ArrivalList",
         ("customsCode", "logisticsCode", "billNo", "trafMode")),
        ("CEB509Message", "c:Departure/c:DepartureHead", "c:Departure/c:DepartureList",
         ("customsCode", "logisticsCode", "billNo", "trafMode")),
    ):
        root = messages.get(message_type)
        if root is None:
            continue
        head = _xfields(root.find(head_path, _NS))
        where = f"{message_type}/{head_path.rsplit(':', 1)[-1]}"
        for name in same:
            _compare(problems, ih, name, head, name, IH, where)
        numbers = [_xfields(row).get("logisticsNo") for row in root.findall(list_path, _NS)]
        if ih.get("logisticsNo") not in numbers:
            problems.append(Problem(f"{message_type}/{list_path.rsplit(':', 1)[-1]}", "three-document-match",
                                    f"{message_type} does not list the inventory's waybill "
                                    f"{ih.get('logisticsNo')!r} (lists {numbers})"))
    sh = _xhead(messages.get("CEB701Message"), "c:SummaryApply/c:SummaryApplyHead")
    if sh is not None:
        for name in ("customsCode", "agentCode", "ebcCode"):
            _compare(problems, ih, name, sh, name, IH, "CEB701Message/SummaryApplyHead")
        if ih.get("statisticsFlag") != "B":
            problems.append(Problem(f"{IH}/statisticsFlag", "three-document-match",
                                    "a summary application (CEB701) is only for inventories declared with "
                                    f"statisticsFlag B, not {ih.get('statisticsFlag')!r}"))
    return problems
