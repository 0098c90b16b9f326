"""FX records: the balance-of-payments (BOP) declaration an order's regime needs, amounts in the
transaction currency and in CNY at the customs monthly rate, and the payment-institution
per-transaction limit.

Facts (general-trade-inspection-fx-tax.md 3; tags there, carried in each record):

- Import = payment abroad (涉外付款, form 境外汇款申请书); export = income (涉外收入申报单) [U for the forms].
- Transaction codes (涉外收支交易分类与代码): 121010 general trade [C]; 121030 goods in/out of special
  customs zones and bonded sites, used here for 1210/1239 [U]; 121990 other goods trade counted in
  customs statistics, used here for 9610/9710/9810/1039 [U].
- Through a payment institution the bank reports the institution's aggregate with code 999999 (a
  zero netting record 999998) and the institution submits the restored per-transaction data with the
  transaction code [C] (``aggregate_code``).
- Payment institutions: per-transaction limit USD 50,000 equivalent since 汇发〔2015〕7号 [C]; whether
  the 2019 Measures keep it [U]: kept (``RuleSet.payment_institution_limit_usd``). A larger amount
  raises ``FxLimitExceeded`` naming the limit and the converted amount.
- Amounts are converted at the customs monthly rate of the declaration date [C for the customs rule;
  banks settle at their own rate, which this record does not know].
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from gateway.reference import codes
from gateway.reference import version as reference_version
from gateway.reference.rates import CustomsRate, customs_rate_record

from .cbec_export.order import ExportOrder
from .cbec_import.order import Order
from .common.dates import NoOrderDate, order_date, today_in_china
from .common.lines import lines_total
from .common.money import round_fen
from .general_trade.order import GtOrder
from .tax.rulesets import RuleSet, ruleset_for

__all__ = ["BOP_CODES", "FxError", "FxLimitExceeded", "FxRecord", "fx_record", "fx_record_for_order"]

CHANNELS = ("payment_institution", "bank")

# regime -> (transaction code, meaning, confidence)
BOP_CODES: dict[str, tuple[str, str, str]] = {
    "0110": ("121010", "一般贸易 general trade", "C"),
    "1210": ("121030", "进出海关特殊监管区域及保税监管场所的货物 goods of special customs zones and bonded sites", "U"),
    "1239": ("121030", "进出海关特殊监管区域及保税监管场所的货物 goods of special customs zones and bonded sites", "U"),
    "9610": ("121990", "其他计入海关统计的货物贸易 other goods trade counted in customs statistics", "U"),
    "9710": ("121990", "其他计入海关统计的货物贸易 other goods trade counted in customs statistics", "U"),
    "9810": ("121990", "其他计入海关统计的货物贸易 other goods trade counted in customs statistics", "U"),
    "1039": ("121990", "其他计入海关统计的货物贸易 other goods trade counted in customs statistics", "U"),
}
AGGREGATE_CODE = "999999"      # payment institution aggregate through the bank [C]
_REMARK = {"0110": "一般贸易", "1210": "保税跨境电商", "1239": "保税跨境电商", "9610": "跨境电商零售",
           "9710": "跨境电商B2B直接出口", "9810": "跨境电商出口海外仓", "1039": "市场采购"}


class FxError(ValueError):
    """An FX record cannot be made as asked."""


class FxLimitExceeded(FxError):
    def __init__(self, message: str, *, usd_equivalent: Decimal, limit_usd: Decimal):
        self.usd_equivalent, self.limit_usd = usd_equivalent, limit_usd
        super().__init__(message)


@dataclass(frozen=True)
class FxRecord:
    reference: str                   # order or declaration number
    regime: str
    direction: str                   # import | export
    kind: str                        # payment | income
    form: str                        # 境外汇款申请书 | 涉外收入申报单
    bop_code: str
    bop_label: str
    bop_confidence: str
    channel: str                     # payment_institution | bank
    aggregate_code: str | None       # 999999 when reported through a payment institution
    declared_on: date
    currency: str                    # ISO letters
    currency_numeric: str            # customs numeric code
    amount: Decimal                  # in the currency
    rate: CustomsRate                # currency -> CNY
    amount_cny: Decimal
    usd_rate: CustomsRate
    usd_equivalent: Decimal
    limit_usd: Decimal | None        # the per-transaction limit that applied (payment institutions)
    counterparty_country: str | None  # ISO alpha-3
    remark: str                      # 交易附言
    ruleset: RuleSet
    reference_version: str

    def as_json(self) -> dict:
        return {
            "kind": "fx", "reference": self.reference, "regime": self.regime, "direction": self.direction,
            "bop": {"kind": self.kind, "form": self.form, "transaction_code": self.bop_code,
                    "label": self.bop_label, "confidence": self.bop_confidence,
                    "aggregate_code": self.aggregate_code, "remark": self.remark},
            "channel": self.channel, "declared_on": self.declared_on.isoformat(),
            "amount": {"currency": self.currency, "currency_numeric": self.currency_numeric,
                       "value": str(self.amount), "cny": str(self.amount_cny),
                       "usd_equivalent": str(self.usd_equivalent)},
            "exchange_rate": self.rate.as_json(), "usd_rate": self.usd_rate.as_json(),
            "limit": {"per_transaction_usd": str(self.limit_usd) if self.limit_usd is not None else None,
                      "applies": self.limit_usd is not None},
            "counterparty_country": self.counterparty_country, "ruleset": self.ruleset.as_json(),
            "reference_version": self.reference_version,
        }


def fx_record(*, reference: str, regime: str, direction: str, amount: Decimal, currency: str,
              declared_on: date, channel: str, goods: str = "", counterparty_country: str | None = None,
              rate_lookup: Callable[..., CustomsRate] = customs_rate_record) -> FxRecord:
    """The FX / BOP record of one transaction. Raises FxLimitExceeded over the payment-institution limit."""
    if regime not in BOP_CODES:
        raise FxError(f"no BOP transaction code known for regime {regime}; known: {', '.join(sorted(BOP_CODES))}")
    if direction not in ("import", "export"):
        raise FxError(f"direction is import or export, not {direction!r}")
    if channel not in CHANNELS:
        raise FxError(f"channel is one of {', '.join(CHANNELS)}, not {channel!r}")
    if amount <= 0:
        raise FxError(f"amount {amount} must be positive")
    rules = ruleset_for(declared_on)
    currency = currency.upper()
    numeric = codes.currency_numeric(currency, on=declared_on)
    rate = rate_lookup(currency, on=declared_on)
    usd = rate_lookup("USD", on=declared_on)
    amount_cny = round_fen(amount * rate.cny_per_unit)
    usd_equivalent = round_fen(amount) if currency == "USD" else round_fen(amount * rate.cny_per_unit / usd.cny_per_unit)
    limit = rules.payment_institution_limit_usd if channel == "payment_institution" else None
    if limit is not None and usd_equivalent > limit:
        raise FxLimitExceeded(
            f"payment-institution per-transaction limit USD {limit:,.2f} ({rules.id}, 汇发〔2015〕7号) exceeded: "
            f"{amount:,.2f} {currency} = USD {usd_equivalent:,.2f} at the customs rates of {usd.month} "
            f"({currency} {rate.cny_per_unit}, USD {usd.cny_per_unit} CNY, {usd.status}); "
            "split the payment or pay through a bank", usd_equivalent=usd_equivalent, limit_usd=limit)
    code, label, confidence = BOP_CODES[regime]
    kind, form, verb = (("payment", "境外汇款申请书", "进口") if direction == "import"
                        else ("income", "涉外收入申报单", "出口"))
    remark = f"{_REMARK[regime]}{verb}{(' ' + goods) if goods else ''} 货款"
    return FxRecord(reference=reference, regime=regime, direction=direction, kind=kind, form=form, bop_code=code,
                    bop_label=label, bop_confidence=confidence, channel=channel,
                    aggregate_code=AGGREGATE_CODE if channel == "payment_institution" else None,
                    declared_on=declared_on, currency=currency, currency_numeric=numeric, amount=amount, rate=rate,
                    amount_cny=amount_cny, usd_rate=usd, usd_equivalent=usd_equivalent, limit_usd=limit,
                    counterparty_country=counterparty_country, remark=remark, ruleset=rules,
                    reference_version=reference_version())


def fx_record_for_order(order: Order | ExportOrder | GtOrder, *, declared_on: date | None = None,
                        rate_lookup: Callable[..., CustomsRate] = customs_rate_record) -> FxRecord:
    """The FX record of an order of any format, declared on ``declared_on`` (default: the order's date,
    else today in China). Raises FxError (FxLimitExceeded over the limit) or a reference-data error."""
    if declared_on is None:
        try:
            declared_on = order_date(order)
        except NoOrderDate:
            declared_on = today_in_china()
    if isinstance(order, GtOrder):
        return fx_record(reference=order.client_ref, regime=order.regime, direction=order.direction,
                         amount=lines_total(order.lines), currency=order.currency, declared_on=declared_on,
                         channel="bank", goods=order.lines[0].name, counterparty_country=order.shipping_country,
                         rate_lookup=rate_lookup)
    if isinstance(order, ExportOrder):
        channel = "bank" if order.payment.company.name.strip() == "现金支付" else "payment_institution"
        return fx_record(reference=order.order_no, regime=order.regime, direction="export",
                         amount=order.payment.amount, currency=codes.currency_iso(order.currency, on=declared_on),
                         declared_on=declared_on, channel=channel, goods=order.lines[0].name,
                         counterparty_country=_country_iso(order.logistics.destination_country, declared_on),
                         rate_lookup=rate_lookup)
    return _cbec_import_record(order, declared_on, rate_lookup)


def _country_iso(country: str | None, on: date) -> str | None:
    if not country:
        return None
    try:
        return codes.country_iso(country, on=on)
    except LookupError:
        return None


def _cbec_import_record(order: Order, on: date, rate_lookup: Callable[..., CustomsRate]) -> FxRecord:
    """A CBEC import: the buyer's payment (CNY) through its payment company."""
    country = order.logistics.shipping_country or next(
        (ln.trade_country or ln.origin_country for ln in order.lines), None)
    goods = order.lines[0].name + (" 等" if len(order.lines) > 1 else "")
    return fx_record(reference=order.order_no, regime=order.regime, direction=order.direction,
                     amount=order.payment.amount, currency="CNY", declared_on=on, channel="payment_institution",
                     goods=goods, counterparty_country=_country_iso(country, on), rate_lookup=rate_lookup)
