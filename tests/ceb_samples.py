"""Small, consistent CEB311/411/511/621 documents for one order, as lxml roots (unsigned).

Test input for the sandbox government and receipt tests; not the gateway's builders
(gateway/declarations/ceb_import.py builds the real filings from orders). The documents follow
the project's schema (gateway/schemas/ceb-import.xsd) and agree with each other the way customs
compares them (三单对碰), unless a test changes them.

    docs = import_set("ORD-1")                      # 1210 bonded import, one line
    docs = import_set("ORD-2", trade_mode="9610", lines=[Line("A", "1", "3000"), Line("B", "1", "2500")])
    message = signed(docs.inventory, key)           # OutgoingMessage with the signed bytes
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from gateway.ports import OutgoingMessage

CEB_NS = "http://www.chinaport.gov.cn/ceb"
NSMAP = {"ceb": CEB_NS}

EBP = ("1105910159", "测试电商平台")
EBC = ("1105910159", "测试电商企业")
PAY = ("1101110323", "测试支付企业")
LOGISTICS = ("1101180326", "测试物流企业")
AGENT = ("1105910159", "测试申报企业")
AREA = ("4403660001", "前海保税仓储有限公司")
TRANSFER = ("1105910159", "测试电商企业", "DXPENT0000458763")
CUSTOMS = "5349"
APP_TIME = "20260301093000"
DECL_DATE = "20260301"


@dataclass(frozen=True)
class Line:
    name: str
    qty: str
    price: str
    gcode: str = "3304990099"
    unit: str = "011"
    country: str = "116"

    @property
    def total(self) -> Decimal:
        return Decimal(self.qty) * Decimal(self.price)


@dataclass
class ImportSet:
    order_no: str
    order: etree._Element
    payment: etree._Element
    waybill: etree._Element
    inventory: etree._Element
    cop_no: str
    pay_transaction_id: str
    logistics_no: str

    def in_order(self) -> list[etree._Element]:
        """Order, payment, waybill, inventory: the order customs wants them in."""
        return [self.order, self.payment, self.waybill, self.inventory]


def guid_for(order_no: str, message_type: str) -> str:
    """A deterministic upper-case 36-character guid per (order, message type)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ceb-samples/{order_no}/{message_type}")).upper()


def import_set(order_no: str, *, trade_mode: str = "1210", lines: list[Line] | None = None,
               freight: str = "10", insured_fee: str = "0", tax_total: str = "0",
               discount: str = "0") -> ImportSet:
    lines = lines or [Line("保湿面霜 50ml", "2", "99.5")]
    goods = sum((line.total for line in lines), Decimal(0))
    paid = goods + Decimal(freight) + Decimal(tax_total) - Decimal(discount)
    cop_no = f"COP{order_no}"[:20]
    pay_transaction_id = f"PAY{order_no}"
    logistics_no = f"LN{order_no}"
    buyer = [("buyerIdType", "1"), ("buyerIdNumber", "110101199001011234"), ("buyerName", "张三"),
             ("buyerTelephone", "13800138000")]
    consignee = [("consignee", "张三"), ("consigneeTelephone", "13800138000"),
                 ("consigneeAddress", "北京市海淀区中关村大街1号")]

    order = _root("CEB311Message", guid_for(order_no, "CEB311Message"))
    wrapper = _sub(order, "Order")
    _fields(_sub(wrapper, "OrderHead"), _start(order) + [
        ("orderType", "I"), ("orderNo", order_no), ("ebpCode", EBP[0]), ("ebpName", EBP[1]),
        ("ebcCode", EBC[0]), ("ebcName", EBC[1]), ("goodsValue", _d(goods)), ("freight", freight),
        ("discount", discount), ("taxTotal", tax_total), ("acturalPaid", _d(paid)), ("currency", "142"),
        ("buyerRegNo", "REG-0001"), ("buyerName", "张三"), ("buyerTelephone", "13800138000"),
        ("buyerIdType", "1"), ("buyerIdNumber", "110101199001011234"),
        ("payCode", PAY[0]), ("payName", PAY[1]), ("payTransactionId", pay_transaction_id),
    ] + consignee)
    for n, line in enumerate(lines, 1):
        _fields(_sub(wrapper, "OrderList"), [
            ("gnum", str(n)), ("itemNo", f"SKU{n}"), ("itemName", line.name), ("gmodel", f"{line.name} 规格"),
            ("unit", line.unit), ("qty", line.qty), ("price", line.price), ("totalPrice", _d(line.total)),
            ("currency", "142"), ("country", line.country),
        ])
    _transfer(order)

    payment = _root("CEB411Message", guid_for(order_no, "CEB411Message"))
    _fields(_sub(_sub(payment, "Payment"), "PaymentHead"), _start(payment) + [
        ("payCode", PAY[0]), ("payName", PAY[1]), ("payTransactionId", pay_transaction_id),
        ("orderNo", order_no), ("ebpCode", EBP[0]), ("ebpName", EBP[1]),
        ("payerIdType", "1"), ("payerIdNumber", "110101199001011234"), ("payerName", "张三"),
        ("telephone", "13800138000"), ("amountPaid", _d(paid)), ("currency", "142"), ("payTime", APP_TIME),
    ])
    _transfer(payment)

    waybill = _root("CEB511Message", guid_for(order_no, "CEB511Message"))
    _fields(_sub(_sub(waybill, "Logistics"), "LogisticsHead"), _start(waybill) + [
        ("logisticsCode", LOGISTICS[0]), ("logisticsName", LOGISTICS[1]), ("logisticsNo", logistics_no),
        ("orderNo", order_no), ("freight", freight), ("insuredFee", insured_fee), ("currency", "142"),
        ("weight", "1.2"), ("packNo", "1"), ("goodsInfo", "化妆品"),
        consignee[0], ("consigneeAddress", consignee[2][1]), ("consigneeTelephone", consignee[1][1]),
    ])
    _transfer(waybill)

    inventory = _root("CEB621Message", guid_for(order_no, "CEB621Message"))
    wrapper = _sub(inventory, "Inventory")
    bonded = trade_mode == "1210"
    _fields(_sub(wrapper, "InventoryHead"), _start(inventory) + [
        ("orderNo", order_no), ("ebpCode", EBP[0]), ("ebpName", EBP[1]), ("ebcCode", EBC[0]),
        ("ebcName", EBC[1]), ("logisticsNo", logistics_no), ("logisticsCode", LOGISTICS[0]),
        ("logisticsName", LOGISTICS[1]), ("copNo", cop_no), ("assureCode", EBC[0]),
        ("emsNo", "T5349W000001" if bonded else None), ("ieFlag", "I"), ("declTime", DECL_DATE),
        ("customsCode", CUSTOMS), ("portCode", CUSTOMS),
    ] + buyer + [
        ("consigneeAddress", consignee[2][1]), ("agentCode", AGENT[0]), ("agentName", AGENT[1]),
        ("areaCode", AREA[0] if bonded else None), ("areaName", AREA[1] if bonded else None),
        ("tradeMode", trade_mode), ("trafMode", "4" if bonded else "5"),
        ("trafNo", None if bonded else "CA1234"), ("voyageNo", None if bonded else "20260301"),
        ("billNo", None if bonded else "999-12345675"),
        ("country", "142" if bonded else "502"), ("freight", freight), ("insuredFee", insured_fee),
        ("currency", "142"), ("packNo", "1"), ("grossWeight", "1.2"), ("netWeight", "1.0"),
    ])
    for n, line in enumerate(lines, 1):
        _fields(_sub(wrapper, "InventoryList"), [
            ("gnum", str(n)), ("itemRecordNo", f"REC{n:04d}" if bonded else None), ("itemNo", f"SKU{n}"),
            ("itemName", line.name), ("gcode", line.gcode), ("gname", line.name), ("gmodel", f"{line.name} 规格"),
            ("country", line.country), ("currency", "142"), ("qty", line.qty), ("unit", line.unit),
            ("qty1", line.qty), ("unit1", line.unit), ("price", line.price), ("totalPrice", _d(line.total)),
        ])
    _transfer(inventory)
    return ImportSet(order_no, order, payment, waybill, inventory, cop_no, pay_transaction_id, logistics_no)


def signed(root: etree._Element, key) -> OutgoingMessage:
    """Sign ``root`` with gateway.signing.XmlSigner and wrap it as the outbox would."""
    from gateway.signing import XmlSigner

    return OutgoingMessage(message_id=root.get("guid"), message_type=etree.QName(root).localname,
                           body=XmlSigner().sign(root, key))


def find(root: etree._Element, path: str) -> etree._Element:
    """``find`` with the ceb prefix bound: find(docs.order, "ceb:Order/ceb:OrderHead/ceb:freight")."""
    element = root.find(path, NSMAP)
    if element is None:
        raise KeyError(path)
    return element


def set_text(root: etree._Element, path: str, value: str) -> None:
    find(root, path).text = value


def _root(message_type: str, guid: str) -> etree._Element:
    return etree.Element(f"{{{CEB_NS}}}{message_type}", {"guid": guid, "version": "1.0"}, nsmap=NSMAP)


def _sub(parent: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{CEB_NS}}}{name}")


def _fields(parent: etree._Element, fields: list[tuple[str, str | None]]) -> None:
    for name, value in fields:
        if value is not None:
            _sub(parent, name).text = value


def _start(root: etree._Element) -> list[tuple[str, str]]:
    return [("guid", root.get("guid")), ("appType", "1"), ("appTime", APP_TIME), ("appStatus", "2")]


def _transfer(root: etree._Element) -> None:
    _fields(_sub(root, "BaseTransfer"), [("copCode", TRANSFER[0]), ("copName", TRANSFER[1]),
                                         ("dxpMode", "DXP"), ("dxpId", TRANSFER[2])])


def _d(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
