"""Cross-border e-commerce retail import comprehensive tax (跨境电商零售进口综合税), regimes 1210 / 9610.

Rules (shared/domain/ceb-messages.md 7.4, rule set parameters in ``rulesets``):

- Dutiable value of a line = its total price + its share of the order's freight + insurance
  (- discount, see ``RuleSet.cbec_discount_reduces_value``), apportioned by value to the fen
  (``apportion``: largest remainder, lines add up exactly).
- Within the limits (order value <= single limit and annual used + order value <= annual limit):
  duty 0; consumption tax and VAT at ``cbec_levied_share`` (70 %) of the statutory amounts:
      CT  = 0.7 x (P + q x s) / (1 - c) x c + q x s        (ad valorem: s = 0)
      VAT = 0.7 x (P + statutory CT) x v
- One item over the single limit (since 2019: one line of quantity 1, annual limit not crossed):
  taxed in full at goods rates (duty at the MFN rate + CT + VAT, 100 %), counted toward the
  annual amount.
- Otherwise refused as CBEC: ``CbecRefused`` names the limit, the amounts and what to do.
- Goods not on the CBEC positive list are refused too.

Consumption-tax thresholds (``HsLine.ct_condition``): high-end cosmetics (>= 10 CNY per ml/g or
>= 15 CNY per piece of dutiable value) and high-end watches (>= 10,000 CNY each); when the order's
legal unit cannot tell, the tax is applied and a note says so.

The annual amount used by the buyer comes in as a number (``annual_used``): the domain stays pure;
``gateway.store.annual`` keeps it in the database. The quote says how much to count
(``annual_counted`` = the order's dutiable value) for calendar year ``year``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from gateway.domain.cbec_import.order import Order
from gateway.domain.common.dates import order_date
from gateway.domain.common.money import round_fen
from gateway.reference import version as reference_version
from gateway.reference.hs import HsLine, hs_line

from .common import ONE, ZERO, LineTax, TaxError, apportion, levy, pct, statutory_taxes
from .rulesets import RuleSet, ruleset_for

__all__ = ["CbecItem", "CbecQuote", "CbecRefused", "items_of", "quote", "quote_items"]

WITHIN = "within-limits"
SINGLE_ITEM_FULL = "single-item-over-limit"

# legal units that tell the quantity of cosmetics: unit code -> grams/millilitres per unit
_PER_GRAM_OR_ML = {"035": Decimal(1000), "036": ONE, "095": Decimal(1000), "096": ONE}
_PIECES = {"020", "010"}                      # 片, 张
_WATCH_UNITS = {"008", "007", "011"}          # 只, 个, 件


class CbecRefused(TaxError):
    """The order cannot be taxed as a CBEC retail import. ``limit`` is "single", "annual" or
    "positive-list"; the message names the limit and the amounts."""

    def __init__(self, limit: str, message: str, *, value: Decimal | None = None,
                 limit_value: Decimal | None = None, annual_used: Decimal | None = None):
        self.limit, self.value, self.limit_value, self.annual_used = limit, value, limit_value, annual_used
        super().__init__(message)


@dataclass(frozen=True)
class CbecItem:
    """One goods line as the tax needs it (CNY)."""

    number: int
    hs_code: str
    total_price: Decimal
    quantity: Decimal
    unit: str
    legal_quantity: Decimal
    legal_unit: str
    second_quantity: Decimal | None = None
    second_unit: str | None = None


@dataclass(frozen=True)
class CbecQuote:
    order_no: str | None
    regime: str | None
    assessed_on: date
    year: int
    ruleset: RuleSet
    mode: str                          # within-limits | single-item-over-limit
    freight: Decimal
    insurance: Decimal
    discount: Decimal
    head_amount: Decimal               # what was apportioned: freight + insurance (- discount)
    lines: tuple[LineTax, ...]
    dutiable_value: Decimal            # sum of the lines' dutiable values = the transaction value
    annual_used: Decimal               # before this order
    annual_counted: Decimal            # to add for this order (= dutiable_value)
    tax_withheld: Decimal
    reference_version: str
    notes: tuple[str, ...] = field(default=())

    currency = "CNY"
    exchange_rate = Decimal(1)

    @property
    def duty(self) -> Decimal:
        return sum((ln.duty for ln in self.lines), ZERO)

    @property
    def consumption_tax(self) -> Decimal:
        return sum((ln.consumption_tax for ln in self.lines), ZERO)

    @property
    def vat(self) -> Decimal:
        return sum((ln.vat for ln in self.lines), ZERO)

    @property
    def total(self) -> Decimal:
        return self.duty + self.consumption_tax + self.vat

    @property
    def withheld_difference(self) -> Decimal:
        """tax_withheld - computed total: > 0 the platform withheld too much, < 0 too little."""
        return self.tax_withheld - self.total

    @property
    def annual_after(self) -> Decimal:
        return self.annual_used + self.annual_counted

    def as_json(self) -> dict:
        rs = self.ruleset
        return {
            "kind": "cbec-import", "order_no": self.order_no, "regime": self.regime,
            "assessed_on": self.assessed_on.isoformat(), "mode": self.mode,
            "ruleset": rs.as_json(), "currency": self.currency,
            "exchange_rate": {"currency": "CNY", "month": f"{self.assessed_on:%Y-%m}", "cny_per_unit": "1", "status": "identity"},
            "head": {"freight": str(self.freight), "insurance": str(self.insurance),
                     "discount": str(self.discount), "apportioned": str(self.head_amount)},
            "lines": [ln.as_json() for ln in self.lines],
            "totals": {"dutiable_value": str(self.dutiable_value), "duty": str(self.duty),
                       "consumption_tax": str(self.consumption_tax), "vat": str(self.vat),
                       "total": str(self.total)},
            "withheld": {"tax_withheld": str(self.tax_withheld), "computed": str(self.total),
                         "difference": str(self.withheld_difference),
                         "matches": self.withheld_difference == 0},
            "annual": {"year": self.year, "used_before": str(self.annual_used),
                       "counted": str(self.annual_counted), "after": str(self.annual_after),
                       "limit": str(rs.cbec_annual_limit)},
            "single_limit": str(rs.cbec_single_limit),
            "reference_version": self.reference_version, "notes": list(self.notes),
        }


def items_of(order: Order) -> list[CbecItem]:
    return [CbecItem(ln.number, ln.hs_code, ln.total_price, ln.quantity, ln.unit, ln.legal_quantity,
                     ln.legal_unit, ln.second_quantity, ln.second_unit) for ln in order.lines]


def quote(order: Order, *, annual_used: Decimal = ZERO, on: date | None = None,
          lookup: Callable[..., HsLine] = hs_line) -> CbecQuote:
    """The CBEC tax of an import order. ``on`` defaults to the order's date (``order_date``)."""
    if order.direction != "import" or order.regime not in ("1210", "9610", "1239"):
        raise TaxError(f"CBEC retail import tax applies to import regimes 1210/1239/9610, not "
                       f"{order.regime} {order.direction}")
    return quote_items(items_of(order), freight=order.logistics.freight, insurance=order.logistics.insurance,
                       discount=order.discount, on=on or order_date(order), annual_used=annual_used,
                       tax_withheld=order.tax_withheld, order_no=order.order_no, regime=order.regime,
                       lookup=lookup)


def quote_items(items: Sequence[CbecItem], *, freight: Decimal = ZERO, insurance: Decimal = ZERO,
                discount: Decimal = ZERO, on: date, annual_used: Decimal = ZERO,
                tax_withheld: Decimal = ZERO, order_no: str | None = None, regime: str | None = None,
                lookup: Callable[..., HsLine] = hs_line, rules: RuleSet | None = None) -> CbecQuote:
    """The CBEC tax of goods lines sold in one transaction on ``on``."""
    if not items:
        raise TaxError("an order needs at least one goods line")
    if annual_used < 0:
        raise TaxError(f"annual_used {annual_used} must not be negative")
    rules = rules or ruleset_for(on)
    hs = [lookup(it.hs_code, on=on) for it in items]
    off_list = [f"line {it.number} {it.hs_code}" for it, h in zip(items, hs, strict=True) if not h.cbec_list]
    if off_list:
        raise CbecRefused("positive-list", "not on the CBEC retail import positive list "
                          f"(跨境电子商务零售进口商品清单): {', '.join(off_list)}; declare as general trade")

    head = freight + insurance - (discount if rules.cbec_discount_reduces_value else ZERO)
    shares = apportion(round_fen(head), [it.total_price for it in items])
    values = [it.total_price + s for it, s in zip(items, shares, strict=True)]
    for it, v in zip(items, values, strict=True):
        if v < 0:
            raise TaxError(f"line {it.number}: dutiable value {v} is negative (discount larger than the line)")
    value = sum(values, ZERO)
    mode = _check_limits(items, value, annual_used, rules)

    lines, notes = [], []
    for it, h, share, v in zip(items, hs, shares, values, strict=True):
        line = _line_tax(it, h, share, v, mode, rules)
        lines.append(line)
    if mode == SINGLE_ITEM_FULL:
        notes.append(f"dutiable value {value} exceeds the single-transaction limit {rules.cbec_single_limit}: "
                     "one item, taxed in full at goods rates and counted toward the annual limit")
    if any(h.confidence != "C" for h in hs):
        notes.append("rates come from reference data marked unconfirmed (see hs_lines.csv)")
    return CbecQuote(order_no=order_no, regime=regime, assessed_on=on, year=on.year, ruleset=rules, mode=mode,
                     freight=freight, insurance=insurance, discount=discount, head_amount=round_fen(head),
                     lines=tuple(lines), dutiable_value=value, annual_used=annual_used, annual_counted=value,
                     tax_withheld=tax_withheld, reference_version=reference_version(), notes=tuple(notes))


def _check_limits(items: Sequence[CbecItem], value: Decimal, used: Decimal, rules: RuleSet) -> str:
    single, annual = rules.cbec_single_limit, rules.cbec_annual_limit
    after = used + value
    if value <= single:
        if after > annual:
            raise CbecRefused(
                "annual", f"annual limit {annual} CNY per buyer ({rules.id}) crossed: already used {used} + this "
                f"order {value} = {after}; declare as general trade", value=value, limit_value=annual,
                annual_used=used)
        return WITHIN
    one_item = len(items) == 1 and items[0].quantity == 1
    if not rules.cbec_single_item_over_limit:
        raise CbecRefused(
            "single", f"single-transaction limit {single} CNY ({rules.id}) exceeded: dutiable value {value}; "
            "before 2019 an order over the limit is taxed as general trade, not CBEC",
            value=value, limit_value=single, annual_used=used)
    if not one_item:
        count = sum((it.quantity for it in items), ZERO)
        raise CbecRefused(
            "single", f"single-transaction limit {single} CNY ({rules.id}) exceeded: dutiable value {value} for "
            f"{len(items)} line(s), {count} item(s); only an order of one single item may exceed it; "
            "split the order or declare as general trade", value=value, limit_value=single, annual_used=used)
    if after > annual:
        raise CbecRefused(
            "annual", f"annual limit {annual} CNY per buyer ({rules.id}) crossed by a single item over the "
            f"single-transaction limit: already used {used} + {value} = {after}; declare as general trade",
            value=value, limit_value=annual, annual_used=used)
    return SINGLE_ITEM_FULL


def _line_tax(it: CbecItem, h: HsLine, share: Decimal, value: Decimal, mode: str, rules: RuleSet) -> LineTax:
    notes: list[str] = []
    applies, why = _ct_applies(it, h, value)
    if why:
        notes.append(why)
    ct_rate = h.ct_rate if applies else ZERO
    ct_specific = h.ct_amount if applies else ZERO
    ct_qty = _specific_quantity(it, h) if applies and h.ct_kind in ("specific", "compound") else ZERO
    duty_rate = h.mfn_rate if mode == SINGLE_ITEM_FULL else ZERO
    levied = ONE if mode == SINGLE_ITEM_FULL else rules.cbec_levied_share
    duty, ct, vat = statutory_taxes(value, duty_rate, ct_rate, ct_specific, ct_qty, h.vat_rate)
    if h.vat_rate not in rules.vat_rates:
        notes.append(f"VAT rate {pct(h.vat_rate)} % of {h.code} is not a rate of {rules.id}")
    return LineTax(number=it.number, hs_code=h.code, goods_value=it.total_price, head_share=share,
                   dutiable_value=value, duty_rate=duty_rate, ct_kind=h.ct_kind if applies else "none",
                   ct_rate=ct_rate, ct_specific=ct_specific, ct_quantity=ct_qty, vat_rate=h.vat_rate,
                   share=levied, duty=levy(duty, levied), consumption_tax=levy(ct, levied), vat=levy(vat, levied),
                   notes=tuple(notes))


def _ct_applies(it: CbecItem, h: HsLine, value: Decimal) -> tuple[bool, str]:
    """Whether the line's consumption tax applies, and a note when it had to be assumed."""
    if h.ct_kind == "none":
        return False, ""
    if h.ct_condition == "high-end-cosmetics":
        per = _PER_GRAM_OR_ML.get(it.legal_unit)
        if per is not None and it.legal_quantity > 0:
            unit_value = value / (it.legal_quantity * per)
            return unit_value >= 10, ""
        if it.legal_unit in _PIECES and it.legal_quantity > 0:
            return value / it.legal_quantity >= 15, ""
        return True, (f"high-end cosmetics threshold not determinable from legal unit {it.legal_unit}: "
                      "consumption tax applied")
    if h.ct_condition == "high-end-watch":
        qty = it.legal_quantity if it.legal_unit in _WATCH_UNITS else it.quantity
        if qty > 0:
            return value / qty >= 10000, ""
        return True, "watch count unknown: consumption tax applied"
    return True, ""


def _specific_quantity(it: CbecItem, h: HsLine) -> Decimal:
    if it.legal_unit == h.ct_unit:
        return it.legal_quantity
    if it.second_unit == h.ct_unit and it.second_quantity is not None:
        return it.second_quantity
    if it.unit == h.ct_unit:
        return it.quantity
    raise TaxError(f"line {it.number} {h.code}: the specific consumption tax ({h.ct_amount} CNY per unit "
                   f"{h.ct_unit}) needs the quantity in unit {h.ct_unit}; the line gives {it.legal_unit}")
