"""What the simulated customs and e-port check (ceb-messages.md §4.4, §7), and what they remember.

``judge(filing, registry)`` returns None when the filing passes, else a ``Verdict``:
- e-port refusals carry the negative code of §4.4 (−301010 duplicate order, −401007 duplicate
  payment, −504012 duplicate waybill, −621004 inventory already declared, −621005 over the
  single-transaction limit, −621018 over the buyer's annual limit: policy.py, the sandbox's own
  reading of the dated limits); they are checked first and the first one wins;
- customs refusals carry status 100 (海关退单); all failed customs checks are reported together
  in one returnInfo (Chinese, then English in brackets).

Only accepted filings enter the ``Registry``; the inventory's 三单对碰 looks there.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from . import policy
from .documents import Filing

MAX_INFO = 1000                              # returnInfo is C..1000
ROUNDING = Decimal("0.005")                  # half a fen: a line total rounded to 0.01


@dataclass(frozen=True)
class Verdict:
    status: str    # "100" (海关退单) or a negative e-port code ("-621005")
    reason: str    # returnInfo

    @property
    def by_eport(self) -> bool:
        return self.status.startswith("-")


# per index: the newest are kept, so a long run's memory is flat once every index is full (bench/memory.py);
# documents older than that (a correction of an inventory 2,000 orders back) are no longer found
MAX_REGISTERED = 2_000


def put_newest(index: dict, key, value: object = None) -> None:
    """``index[key] = value`` as the newest entry, dropping the oldest beyond MAX_REGISTERED."""
    index.pop(key, None)          # re-registered: it becomes the newest
    index[key] = value
    if len(index) > MAX_REGISTERED:
        del index[next(iter(index))]


class Registry:
    """The accepted filings, indexed by the keys customs joins on (§7.1)."""

    def __init__(self) -> None:
        self.orders: dict[tuple[str, str], Filing] = {}            # (ebpCode, orderNo)
        self.orders_by_no: dict[str, Filing] = {}                  # orderNo (latest)
        self.payments: dict[tuple[str, str], Filing] = {}          # (payCode, payTransactionId)
        self.payments_by_order: dict[tuple[str, str], Filing] = {}  # (orderNo, ebpCode)
        self.waybills: dict[tuple[str, str], Filing] = {}          # (logisticsCode, logisticsNo)
        self.inventories: dict[str, Filing] = {}                   # copNo
        # the annual limit: (buyerIdNumber, year) -> copNo -> dutiable value of each inventory accepted
        self.annual: dict[tuple[str, int], dict[str, Decimal]] = {}

    def register(self, filing: Filing) -> None:
        g = filing.get
        if filing.message_type == "CEB311Message":
            put_newest(self.orders, (g("ebpCode"), g("orderNo")), filing)
            put_newest(self.orders_by_no, g("orderNo"), filing)
        elif filing.message_type == "CEB411Message":
            put_newest(self.payments, (g("payCode"), g("payTransactionId")), filing)
            put_newest(self.payments_by_order, (g("orderNo"), g("ebpCode")), filing)
        elif filing.message_type == "CEB511Message":
            put_newest(self.waybills, (g("logisticsCode"), g("logisticsNo")), filing)
        elif filing.message_type == "CEB621Message":
            put_newest(self.inventories, g("copNo"), filing)
            counted = annual_entry(filing, self)
            if counted is not None:
                buyer_year, value = counted
                put_newest(self.annual, buyer_year, {**self.annual.get(buyer_year, {}), g("copNo"): value})

    def give_back(self, inventory: Filing) -> None:
        """A cancelled inventory, or goods returned in full, no longer count toward the annual limit."""
        for amounts in self.annual.values():
            amounts.pop(inventory.get("copNo"), None)

    def annual_used(self, buyer_year: tuple[str, int], except_cop_no: str) -> Decimal:
        return sum((v for c, v in self.annual.get(buyer_year, {}).items() if c != except_cop_no), Decimal(0))

    def count(self) -> int:
        return len(self.orders) + len(self.payments) + len(self.waybills) + len(self.inventories)


def judge(filing: Filing, registry: Registry) -> Verdict | None:
    eport, customs = _CHECKS[filing.message_type]
    for check in eport:
        verdict = check(filing, registry)
        if verdict is not None:
            return verdict
    reasons = [reason for check in customs for reason in check(filing, registry)]
    if not reasons:
        return None
    return Verdict("100", _clip("; ".join(reasons)))


# -- CEB311 order -----------------------------------------------------------------------------

def _already(f: Filing, known, key: object, code: str, text: str) -> Verdict | None:
    """A new document (appType 1) whose number customs has already: ``text`` says which."""
    if f.get("appType") == "1" and key in known:
        return Verdict(code, text)
    return None


def _duplicate_order(f: Filing, registry: Registry) -> Verdict | None:
    return _already(f, registry.orders, (f.get("ebpCode"), f.order_no), "-301010",
                    f"同编号订单已存在: ebpCode {f.get('ebpCode')} orderNo {f.order_no} "
                    "(an order with this number already exists on this platform)")


def _order_amounts(f: Filing, registry: Registry) -> list[str]:
    problems = []
    goods, freight, tax, discount, paid = (_dec(f.get(n)) for n in
                                           ("goodsValue", "freight", "taxTotal", "discount", "acturalPaid"))
    expected = goods + freight + tax - discount
    if paid != expected:
        problems.append(f"实际支付金额计算错误: acturalPaid {paid} ≠ goodsValue + freight + taxTotal − discount "
                        f"= {expected} (actual paid does not add up)")
    return problems + line_totals(f, goods)


def line_totals(f: Filing, goods: Decimal, also: Callable[[dict[str, str]], list[str]] | None = None) -> list[str]:
    """An order's lines add up to its goods value, and each line's total is price × quantity (import
    and export orders alike); ``also`` checks more of each line, its problems after the line's total."""
    problems = []
    line_sum = sum((_dec(line.get("totalPrice")) for line in f.lines), Decimal(0))
    if line_sum != goods:
        problems.append(f"商品价格与表体总价合计不符: goodsValue {goods} ≠ Σ totalPrice {line_sum} "
                        "(goods value differs from the sum of the line totals)")
    for line in f.lines:
        qty, price, total = (_dec(line.get(n)) for n in ("qty", "price", "totalPrice"))
        if not _about(total, price * qty):
            problems.append(f"第{line.get('gnum')}项总价不等于单价×数量: totalPrice {total} ≠ {price} × {qty} "
                            f"(line {line.get('gnum')} total is not price × quantity)")
        if also is not None:
            problems.extend(also(line))
    return problems


# -- CEB411 payment ---------------------------------------------------------------------------

def _duplicate_payment(f: Filing, registry: Registry) -> Verdict | None:
    return _already(f, registry.payments, (f.get("payCode"), f.get("payTransactionId")), "-401007",
                    f"同编号支付单已存在: payCode {f.get('payCode')} payTransactionId "
                    f"{f.get('payTransactionId')} (a payment with this number already exists)")


def _payment_amount(f: Filing, registry: Registry) -> list[str]:
    order = registry.orders.get((f.get("ebpCode"), f.order_no))
    if order is None:   # the order may still be on its way; customs compares when both are there
        return []
    paid, expected = _dec(f.get("amountPaid")), _dec(order.get("acturalPaid"))
    if paid != expected:
        return [f"支付金额与订单实际支付金额不符: amountPaid {paid} ≠ 订单 acturalPaid {expected} "
                "(payment amount differs from the order's actual paid)"]
    return []


# -- CEB511 waybill ---------------------------------------------------------------------------

def _duplicate_waybill(f: Filing, registry: Registry) -> Verdict | None:
    return _already(f, registry.waybills, (f.get("logisticsCode"), f.get("logisticsNo")), "-504012",
                    f"运单已存在: logisticsCode {f.get('logisticsCode')} logisticsNo "
                    f"{f.get('logisticsNo')} (a waybill with this number already exists)")


def _pack_no(f: Filing, registry: Registry) -> list[str]:
    if f.get("packNo") != "1":
        return [f"件数限定为1: packNo {f.get('packNo')} (one parcel per {_what(f)}: packNo must be 1)"]
    return []


def _waybill_consignee(f: Filing, registry: Registry) -> list[str]:
    order = registry.orders_by_no.get(f.order_no)
    if order is None:
        return []
    differing = [name for name in ("consignee", "consigneeTelephone", "consigneeAddress")
                 if f.get(name) != order.get(name)]
    if differing:
        return [f"收货人信息与订单不一致: {', '.join(differing)} (consignee differs from order {f.order_no})"]
    return []


# -- CEB621 inventory -------------------------------------------------------------------------

def _duplicate_inventory(f: Filing, registry: Registry) -> Verdict | None:
    return _already(f, registry.inventories, f.get("copNo"), "-621004",
                    f"清单已经申报过，请勿重复申报: copNo {f.get('copNo')} "
                    "(this inventory was already declared)")


def _single_transaction_limit(f: Filing, registry: Registry) -> Verdict | None:
    """−621005 by the limits in force on the day of the payment (CEB411 payTime), else of the
    declaration (declTime): policy.py, the sandbox's own reading of 财关税〔2018〕49号."""
    value = _inventory_value(f)
    if value.is_nan():
        return None
    day = _inventory_day(f, registry)
    if day is None:
        return None
    reason = policy.over_single_limit(value, [_dec(line.get("qty")) for line in f.lines], day)
    return None if reason is None else Verdict("-621005", _clip(reason))


def annual_entry(f: Filing, registry: Registry) -> tuple[tuple[str, int], Decimal] | None:
    """((buyer, year), dutiable value) of an import inventory, None when it cannot be told."""
    value = _inventory_value(f)
    day = _inventory_day(f, registry)
    if value.is_nan() or day is None or not f.get("buyerIdNumber"):
        return None
    return (f.get("buyerIdNumber").upper(), day.year), value


def _annual_limit(f: Filing, registry: Registry) -> Verdict | None:
    """−621018 when the buyer's inventories accepted this calendar year + this one exceed the annual
    limit in force (policy.py: 20,000 CNY from 2016-04-08, 26,000 from 2019-01-01)."""
    entry = annual_entry(f, registry)
    if entry is None:
        return None
    (buyer, year), value = entry
    day = _inventory_day(f, registry)
    assert day is not None
    limit = policy.limits_on(day).annual
    used = registry.annual_used((buyer, year), f.get("copNo"))
    if used + value <= limit:
        return None
    return Verdict("-621018", _clip(f"购买人已用额度 {used} CNY, 本次购买 {value} CNY 将超过年度限额 {limit} CNY "
                                    f"({year}) (the buyer's annual limit would be exceeded)"))


def _inventory_value(f: Filing) -> Decimal:
    return policy.dutiable_value([_dec(line.get("totalPrice")) for line in f.lines],
                                 _dec(f.get("freight") or "0"), _dec(f.get("insuredFee") or "0"))


def _inventory_day(f: Filing, registry: Registry) -> date | None:
    payment = registry.payments_by_order.get((f.order_no, f.get("ebpCode")))
    return transaction_day(payment.get("payTime") if payment is not None else None, f.get("declTime"))


def transaction_day(*times: str | None) -> date | None:
    """The date of the first of ``times`` (YYYYMMDDhhmmss) that has one."""
    for text in times:
        if text and len(text) >= 8 and text[:8].isdigit():
            try:
                return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
            except ValueError:
                continue
    return None


def _three_documents(f: Filing, registry: Registry) -> list[str]:
    g = f.get
    missing = order_missing(f, registry.orders)
    if (f.order_no, g("ebpCode")) not in registry.payments_by_order:
        missing.append(f"支付单 payment for order {f.order_no} ({g('ebpCode')})")
    waybill = registry.waybills.get((g("logisticsCode"), g("logisticsNo")))
    if waybill is None:
        missing.append(f"运单 waybill {g('logisticsCode')}/{g('logisticsNo')}")
    problems = three_documents_failed(missing)
    if waybill is not None and waybill.order_no != f.order_no:
        problems.append(f"三单对碰失败: 运单订单编号 {waybill.order_no} ≠ 清单订单编号 {f.order_no} "
                        "(the waybill belongs to another order)")
    return problems


def order_missing(f: Filing, orders: dict) -> list[str]:
    """The inventory's order, when customs has not got it (by platform and order number, same company)."""
    g = f.get
    order = orders.get((g("ebpCode"), f.order_no))
    if order is None or order.get("ebcCode") != g("ebcCode"):
        return [f"订单 order {g('ebpCode')}/{g('ebcCode')}/{f.order_no}"]
    return []


def three_documents_failed(missing: list[str]) -> list[str]:
    if missing:
        return [f"三单对碰失败，缺少: {'; '.join(missing)} "
                "(three-document match failed: missing documents not received or not accepted)"]
    return []


def _buyer(f: Filing, registry: Registry) -> list[str]:
    order = registry.orders.get((f.get("ebpCode"), f.order_no))
    if order is None:
        return []
    differing = [name for name in ("buyerIdType", "buyerIdNumber", "buyerName", "buyerTelephone")
                 if f.get(name) != order.get(name)]
    if differing:
        return [f"订购人信息与订单不一致: {', '.join(differing)} (buyer identity differs from the order)"]
    return []


def _lines_mirror_order(f: Filing, registry: Registry) -> list[str]:
    order = registry.orders.get((f.get("ebpCode"), f.order_no))
    if order is None:
        return []

    def differing(line, ordered) -> list[str]:
        names = ["gname"] if line.get("gname") != ordered.get("itemName") else []
        return names + [n for n in ("qty", "price") if _dec(line.get(n)) != _dec(ordered.get(n))]

    return lines_mirror(f.lines, order.lines, differing)


def lines_mirror(inventory_lines, order_lines, differing) -> list[str]:
    """Inventory lines against the order's, by gnum (import and export alike); ``differing(line,
    ordered)`` names the fields of one pair that disagree."""
    if len(inventory_lines) != len(order_lines):
        return [f"清单表体与订单表体不一致: {len(inventory_lines)} 项 ≠ 订单 {len(order_lines)} 项 "
                "(inventory lines do not mirror the order lines)"]
    by_gnum = {line.get("gnum"): line for line in order_lines}
    problems = []
    for line in inventory_lines:
        gnum = line.get("gnum")
        ordered = by_gnum.get(gnum)
        if ordered is None:
            problems.append(f"清单第{gnum}项在订单中不存在 (inventory line {gnum} has no order line)")
            continue
        names = differing(line, ordered)
        if names:
            problems.append(f"清单第{gnum}项与订单不一致: {', '.join(names)} "
                            f"(inventory line {gnum} differs from the order line)")
    return problems


def _trade_mode(f: Filing, registry: Registry) -> list[str]:
    mode = f.get("tradeMode")
    if mode == "1210":
        missing = [name for name in ("emsNo", "areaCode") if not f.get(name)]
        missing += [f"InventoryList[{line.get('gnum')}].itemRecordNo" for line in f.lines
                    if not line.get("itemRecordNo")]
        if missing:
            return [f"保税进口(1210)必填项缺失: {', '.join(missing)} (required for bonded import)"]
    elif mode == "9610":
        missing = [name for name in ("trafNo", "voyageNo", "billNo") if not f.get(name)]
        if missing:
            return [f"直购进口(9610)必填项缺失: {', '.join(missing)} (required for direct-mail import)"]
    else:
        return [f"贸易方式应为1210或9610: tradeMode {mode} (tradeMode must be 1210 or 9610)"]
    return []


_CHECKS = {
    "CEB311Message": ((_duplicate_order,), (_order_amounts,)),
    "CEB411Message": ((_duplicate_payment,), (_payment_amount,)),
    "CEB511Message": ((_duplicate_waybill,), (_pack_no, _waybill_consignee)),
    "CEB621Message": ((_duplicate_inventory, _single_transaction_limit, _annual_limit),
                      (_three_documents, _buyer, _lines_mirror_order, _pack_no, _trade_mode)),
}


def _dec(text: str | None) -> Decimal:
    if text is None:
        return Decimal("NaN")
    try:
        return Decimal(text)
    except (InvalidOperation, TypeError):
        return Decimal("NaN")   # schema-checked before; NaN never equals anything


def _about(total: Decimal, product: Decimal) -> bool:
    """totalPrice = price × qty, allowing the rounding of the product to the fen (fractional qty)."""
    if total.is_nan() or product.is_nan():
        return False
    return abs(total - product) <= ROUNDING


def _what(f: Filing) -> str:
    return "inventory" if f.message_type == "CEB621Message" else "waybill"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_INFO else text[:MAX_INFO - 1] + "…"
