"""What the simulated customs and e-port check on export declarations (9610, 1210/1239), what they
remember, and how they answer (ceb-messages.md §4, §6, §7.1, §7.5).

``judge(filing, registry)`` returns None when the filing passes, else a ``Verdict`` (same contract as
``rules.judge``): e-port refusals first (a duplicate number: the negative code of the same document
role on import, −301010 / −401007 / −504012 / −621004; the 2022 standard lists its error table under an
export heading with exactly these codes), then every failed customs check together under 100 (海关退单).

Customs checks:
- CEB303 order: Σ line totalPrice = goodsValue, totalPrice = price × qty, lines in the head's currency;
- CEB403 receipt of payment: against its order (if already in): platform, currency, and the money
  received is at most goodsValue + freight (coupons may make it less; never more);
- CEB505 waybill: at least one package, a positive gross weight;
- CEB603 inventory: 三单对碰 (order by ebpCode + orderNo with the same ebcCode, receipt of payment by
  ebcCode + orderNo, waybill by logisticsCode + logisticsNo), lines mirror the order lines, Σ line
  totals = the order's goods value, tradeMode 9610 / 1210 / 1239 (special zone: iacCode, emsNo,
  itemRecordNo), ieFlag E;
- CEB607 / 507 / 509: every waybill listed is known;
- CEB701 summary: there are statisticsFlag-B inventories of that declarant and consignor in its time
  window (or it lists inventories by number).

Only accepted filings enter the ``ExportRegistry``.
"""
from __future__ import annotations

from decimal import Decimal

from .documents import Filing
from .rules import Verdict, _clip, _dec, line_totals, lines_mirror, order_missing, put_newest, three_documents_failed

DUPLICATE_CODES = {            # (registry attribute, key fields, e-port code, what)
    "CEB303Message": ("orders", ("ebpCode", "orderNo"), "-301010",
                      "同编号订单已存在 (an order with this number already exists)"),
    "CEB403Message": ("receipts", ("ebcCode", "orderNo"), "-401007",
                      "同编号收款单已存在 (a receipt of payment for this order already exists)"),
    "CEB505Message": ("waybills", ("logisticsCode", "logisticsNo"), "-504012",
                      "运单已存在 (a waybill with this number already exists)"),
    "CEB603Message": ("inventories", ("copNo",), "-621004",
                      "清单已经申报过，请勿重复申报 (this inventory was already declared)"),
}
SPECIAL_ZONE = ("1210", "1239")

# Business fields each export receipt repeats, in schema order (before returnStatus). preNo, invtNo
# and sumNo are numbers the e-port / customs assign: the government fills them in.
RECEIPT_IDENTITY = {
    "CEB304Message": ("ebpCode", "ebcCode", "orderNo"),
    "CEB404Message": ("ebcCode", "orderNo", "payNo"),
    "CEB506Message": ("logisticsCode", "logisticsNo"),
    "CEB508Message": ("operatorCode", "logisticsCode", "preNo", "copNo", "billNo", "msgSeqNo"),
    "CEB510Message": ("logisticsCode", "copNo", "preNo", "msgSeqNo"),
    "CEB604Message": ("agentCode", "copNo", "preNo", "invtNo", "ebcCode", "ebpCode", "orderNo", "statisticsFlag"),
    "CEB608Message": ("agentCode", "logisticsCode", "copNo", "preNo", "billNo", "msgSeqNo"),
    "CEB702Message": ("agentCode", "ebcCode", "copNo", "preNo", "sumNo", "msgSeqNo"),
}
# Required by the receipt schema but possibly unknown yet (no minLength there): sent empty.
REQUIRED_EVEN_EMPTY = {"CEB604Message": ("invtNo",), "CEB508Message": ("billNo",)}
# Declarations the e-port numbers (preNo) when it takes them in.
NUMBERED = ("CEB507Message", "CEB509Message", "CEB603Message", "CEB607Message", "CEB701Message")
DEC_STATE = "A"   # CEB792 decState: codes are set by customs; "A" as in the official sample


class ExportRegistry:
    """The accepted export filings, indexed by the keys customs joins on (§7.1)."""

    def __init__(self) -> None:
        self.orders: dict[tuple[str, ...], Filing] = {}        # (ebpCode, orderNo)
        self.receipts: dict[tuple[str, ...], Filing] = {}      # (ebcCode, orderNo)
        self.waybills: dict[tuple[str, ...], Filing] = {}      # (logisticsCode, logisticsNo)
        self.inventories: dict[tuple[str, ...], Filing] = {}   # (copNo,)
        self.others: dict[tuple[str, str], Filing] = {}        # (message type, copNo): 607, 507, 509, 701

    def register(self, filing: Filing) -> None:
        spec = DUPLICATE_CODES.get(filing.message_type)
        if spec is None:
            put_newest(self.others, (filing.message_type, filing.get("copNo")), filing)
        else:
            attribute, fields, _, _ = spec
            put_newest(getattr(self, attribute), tuple(filing.get(name) for name in fields), filing)

    def count(self) -> int:
        return (len(self.orders) + len(self.receipts) + len(self.waybills) + len(self.inventories)
                + len(self.others))

    def summarised(self, summary: Filing) -> list[Filing]:
        """The inventories a summary application (CEB701) covers: statisticsFlag B, same declarant and
        consignor, appTime in [startTime, endTime]. (A summary listing invtNos is trusted as sent.)"""
        start, end = summary.get("startTime"), summary.get("endTime")
        return [inventory for inventory in self.inventories.values()
                if inventory.get("statisticsFlag") == "B"
                and inventory.get("agentCode") == summary.get("agentCode")
                and inventory.get("ebcCode") == summary.get("ebcCode")
                and bool(start) and start <= inventory.get("appTime") <= end]


def handles(message_type: str) -> bool:
    return message_type in _CHECKS


def judge(filing: Filing, registry: ExportRegistry) -> Verdict | None:
    duplicate = _duplicate(filing, registry)
    if duplicate is not None:
        return duplicate
    reasons = [reason for check in _CHECKS[filing.message_type] for reason in check(filing, registry)]
    if not reasons:
        return None
    return Verdict("100", _clip("; ".join(reasons)))


def receipt_identity(receipt_type: str, filing: Filing, numbers: dict[str, str | None]):
    """(identity fields in schema order, names to send even when empty) of one return entity."""
    identity = tuple((name, numbers[name] if name in numbers else filing.get(name))
                     for name in RECEIPT_IDENTITY[receipt_type])
    return identity, REQUIRED_EVEN_EMPTY.get(receipt_type, ())


def summary_result(summary: Filing, inventories: list[tuple[Filing, str]], sum_no: str, decl_seq_no: str,
                   op_date: str) -> tuple[list[tuple[str, str]], list[list[tuple[str, str | None]]]]:
    """Head fields and list rows of the CEB792 that answers a concluded summary application:
    ``inventories`` are (inventory, invtNo) pairs."""
    g = summary.get
    gross = sum((_dec(inv.get("grossWeight")) for inv, _ in inventories), Decimal(0))
    net = sum((_dec(inv.get("netWeight")) for inv, _ in inventories), Decimal(0))
    head = [("customsCode", g("customsCode")), ("sumNo", sum_no), ("opDate", op_date),
            ("declSeqNo", decl_seq_no), ("decState", DEC_STATE),
            ("agentCode", g("agentCode")), ("agentName", g("agentName")),
            ("ebcCode", g("ebcCode")), ("ebcName", g("ebcName")),
            ("declAgentCode", g("declAgentCode")), ("declAgentName", g("declAgentName")),
            ("grossWeight", format(gross, "f")), ("netWeight", format(net, "f")),
            ("msgCount", "1"), ("msgSeqNo", "1")]
    rows, seq = [], 0
    for inventory, invt_no in inventories:
        for line in inventory.lines:
            seq += 1
            rows.append([("invtNo", invt_no), ("logisticsNo", inventory.get("logisticsNo")), ("gseqno", str(seq)),
                         ("gnum", line.get("gnum")), ("gcode", line.get("gcode"))])
    return head, rows


# -- checks -------------------------------------------------------------------------------------

def _duplicate(f: Filing, registry: ExportRegistry) -> Verdict | None:
    spec = DUPLICATE_CODES.get(f.message_type)
    if spec is None or f.get("appType") != "1":
        return None
    attribute, fields, code, what = spec
    key = tuple(f.get(name) for name in fields)
    if key in getattr(registry, attribute):
        return Verdict(code, f"{what}: {' '.join(f'{n} {v}' for n, v in zip(fields, key, strict=True))}")
    return None


def _order_amounts(f: Filing, registry: ExportRegistry) -> list[str]:
    def same_currency(line) -> list[str]:
        if line.get("currency") != f.get("currency"):
            return [f"第{line.get('gnum')}项币制与表头不一致: {line.get('currency')} ≠ {f.get('currency')} "
                    f"(line {line.get('gnum')} is in another currency than the order)"]
        return []

    return line_totals(f, _dec(f.get("goodsValue")), also=same_currency)


def _receipt_against_order(f: Filing, registry: ExportRegistry) -> list[str]:
    order = next((o for (ebp, no), o in registry.orders.items()
                  if no == f.order_no and o.get("ebcCode") == f.get("ebcCode")), None)
    if order is None:   # the order may still be on its way; the inventory's match needs both
        return []
    problems = []
    if order.get("ebpCode") != f.get("ebpCode"):
        problems.append(f"收款单电商平台与订单不一致: ebpCode {f.get('ebpCode')} ≠ {order.get('ebpCode')} "
                        "(platform differs from the order)")
    if order.get("currency") != f.get("currency"):
        problems.append(f"收款单币制与订单不一致: {f.get('currency')} ≠ {order.get('currency')} "
                        "(currency differs from the order)")
    ceiling = _dec(order.get("goodsValue")) + _dec(order.get("freight"))
    charge = _dec(f.get("charge"))
    if charge.is_nan() or charge > ceiling:
        problems.append(f"收款金额超过订单金额: charge {charge} > goodsValue + freight {ceiling} "
                        "(more money received than the order is worth)")
    return problems


def _parcel(f: Filing, registry: ExportRegistry) -> list[str]:
    problems = []
    if _dec(f.get("packNo")) < 1:
        problems.append(f"件数应大于0: packNo {f.get('packNo')} (at least one package)")
    weight = _dec(f.get("grossWeight"))
    if weight.is_nan() or weight <= 0:
        problems.append(f"毛重应大于0: grossWeight {f.get('grossWeight')} (gross weight must be positive)")
    return problems


def _three_documents(f: Filing, registry: ExportRegistry) -> list[str]:
    g = f.get
    missing = order_missing(f, registry.orders)
    if (g("ebcCode"), f.order_no) not in registry.receipts:
        missing.append(f"收款单 receipt of payment {g('ebcCode')}/{f.order_no}")
    if (g("logisticsCode"), g("logisticsNo")) not in registry.waybills:
        missing.append(f"运单 waybill {g('logisticsCode')}/{g('logisticsNo')}")
    return three_documents_failed(missing)


def _lines_mirror_order(f: Filing, registry: ExportRegistry) -> list[str]:
    order = registry.orders.get((f.get("ebpCode"), f.order_no))
    if order is None:
        return []

    def differing(line, ordered) -> list[str]:
        names = [n for n in ("itemNo", "currency") if line.get(n) != ordered.get(n)]
        return names + [n for n in ("qty", "price", "totalPrice") if _dec(line.get(n)) != _dec(ordered.get(n))]

    problems = lines_mirror(f.lines, order.lines, differing)
    if len(f.lines) != len(order.lines):
        return problems
    total = sum((_dec(line.get("totalPrice")) for line in f.lines), Decimal(0))
    if total != _dec(order.get("goodsValue")):
        problems.append(f"清单总价与订单商品金额不符: Σ totalPrice {total} ≠ goodsValue {order.get('goodsValue')} "
                        "(inventory total differs from the order's FOB goods value)")
    return problems


def _trade_mode(f: Filing, registry: ExportRegistry) -> list[str]:
    mode = f.get("tradeMode")
    problems = []
    if f.get("ieFlag") != "E":
        problems.append(f"出口清单进出口标记应为E: ieFlag {f.get('ieFlag')} (an export inventory is E)")
    if mode in SPECIAL_ZONE:
        missing = [name for name in ("iacCode", "iacName", "emsNo") if not f.get(name)]
        missing += [f"InventoryList[{line.get('gnum')}].itemRecordNo" for line in f.lines
                    if not line.get("itemRecordNo")]
        if missing:
            problems.append(f"特殊区域出口({mode})必填项缺失: {', '.join(missing)} (required for special-zone export)")
    elif mode != "9610":
        problems.append(f"贸易方式应为9610、1210或1239: tradeMode {mode} "
                        "(the sandbox takes 9610 and 1210/1239 export inventories)")
    return problems


def _listed_waybills(list_name: str):
    def check(f: Filing, registry: ExportRegistry) -> list[str]:
        unknown = [line.get("logisticsNo") or "" for line in f.lines
                   if (f.get("logisticsCode"), line.get("logisticsNo")) not in registry.waybills]
        if unknown:
            return [f"{list_name}所列运单不存在: {f.get('logisticsCode')} {', '.join(unknown)} "
                    "(waybills listed that customs does not know)"]
        return []
    return check


def _summary_scope(f: Filing, registry: ExportRegistry) -> list[str]:
    if f.lines:          # listed by invtNo: trusted as sent
        return []
    if not f.get("startTime") or not f.get("endTime"):
        return ["汇总申请单须指定时间范围或清单编号 (a summary names a time range or inventory numbers)"]
    if f.get("endTime") < f.get("startTime"):
        return [f"汇总结束时间早于开始时间: {f.get('endTime')} < {f.get('startTime')} (end before start)"]
    if not registry.summarised(f):
        return [f"无可汇总的清单: agentCode {f.get('agentCode')} ebcCode {f.get('ebcCode')} "
                f"{f.get('startTime')}–{f.get('endTime')} (no statisticsFlag B inventory to summarise)"]
    return []


_CHECKS = {
    "CEB303Message": (_order_amounts,),
    "CEB403Message": (_receipt_against_order,),
    "CEB505Message": (_parcel,),
    "CEB603Message": (_three_documents, _lines_mirror_order, _trade_mode, _parcel),
    "CEB607Message": (_listed_waybills("总分单"),),
    "CEB507Message": (_listed_waybills("运抵单"),),
    "CEB509Message": (_listed_waybills("离境单"),),
    "CEB701Message": (_summary_scope,),
}
