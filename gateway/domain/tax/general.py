"""General-trade import taxes (一般贸易进口): customs value in CNY, duty, consumption tax, import VAT.

Rules (general-trade-inspection-fx-tax.md 4.3; all [U] there):

- Customs value = CIF. Terms CIF: the goods value is the customs value. CFR (C&F): + insurance.
  FOB: + freight + insurance. Insurance not known (``insurance=None``) for FOB/CFR: 3 per mille of
  (goods + freight) (``RuleSet.default_insurance_rate``). EXW and other terms: TaxError.
- Conversion to CNY at the customs monthly rate of the declaration date (``gateway.reference.rates``)
  unless ``exchange_rate`` is given: each goods value, the freight and the insurance are converted and
  rounded to the fen; freight + insurance are then apportioned to the lines by value (largest
  remainder), so CIF of the lines adds up exactly.
- duty = CIF x d (MFN rate unless ``duty_rates`` gives another, e.g. an agreement rate)
- consumption tax = (CIF + duty + q x s) / (1 - c) x c + q x s   (ad valorem: s = 0)
- import VAT = (CIF + duty + consumption tax) x v
- A tax whose total for the declaration is below ``RuleSet.general_minimum_tax`` (50 CNY) is not
  levied (``waived``).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from gateway.domain.common.money import round_fen
from gateway.reference import version as reference_version
from gateway.reference.hs import HsLine, hs_line
from gateway.reference.rates import CustomsRate, customs_rate_record

from .common import ONE, ZERO, LineTax, TaxError, apportion, levy, statutory_taxes
from .rulesets import RuleSet, ruleset_for

__all__ = ["GeneralQuote", "GoodsItem", "TERMS", "items_of_order", "quote_import"]

TERMS = ("CIF", "CFR", "FOB")
_ALIASES = {"C&F": "CFR", "CNF": "CFR", "1": "CIF", "2": "CFR", "3": "FOB"}   # TransMode codes 1/2/3


@dataclass(frozen=True)
class GoodsItem:
    """One declared goods item: its value in the transaction currency under the terms of sale."""

    number: int
    hs_code: str
    value: Decimal
    quantity: Decimal | None = None        # in ``unit`` (a legal unit), for specific consumption tax
    unit: str | None = None
    second_quantity: Decimal | None = None
    second_unit: str | None = None


@dataclass(frozen=True)
class GeneralQuote:
    assessed_on: date
    ruleset: RuleSet
    terms: str
    currency: str
    rate: CustomsRate                  # the rate used (its month and status)
    goods_value: Decimal               # in the currency, as declared
    freight: Decimal                   # in the currency
    insurance: Decimal                 # in the currency (computed when it was not given)
    insurance_assumed: bool
    freight_cny: Decimal
    insurance_cny: Decimal
    lines: tuple[LineTax, ...]
    waived: tuple[str, ...]            # taxes below the minimum, not levied
    reference_version: str
    notes: tuple[str, ...] = field(default=())

    def _sum(self, name: str) -> Decimal:
        return sum((getattr(ln, name) for ln in self.lines), ZERO)

    @property
    def customs_value(self) -> Decimal:
        return self._sum("dutiable_value")

    @property
    def duty(self) -> Decimal:
        return ZERO if "duty" in self.waived else self._sum("duty")

    @property
    def consumption_tax(self) -> Decimal:
        return ZERO if "consumption_tax" in self.waived else self._sum("consumption_tax")

    @property
    def vat(self) -> Decimal:
        return ZERO if "vat" in self.waived else self._sum("vat")

    @property
    def total(self) -> Decimal:
        return self.duty + self.consumption_tax + self.vat

    def as_json(self) -> dict:
        return {
            "kind": "general-import", "assessed_on": self.assessed_on.isoformat(), "ruleset": self.ruleset.as_json(),
            "terms": self.terms, "currency": self.currency, "exchange_rate": self.rate.as_json(),
            "head": {"goods_value": str(self.goods_value), "freight": str(self.freight),
                     "insurance": str(self.insurance), "insurance_assumed": self.insurance_assumed,
                     "freight_cny": str(self.freight_cny), "insurance_cny": str(self.insurance_cny)},
            "lines": [ln.as_json() for ln in self.lines],
            "totals": {"customs_value": str(self.customs_value), "duty": str(self.duty),
                       "consumption_tax": str(self.consumption_tax), "vat": str(self.vat),
                       "total": str(self.total), "waived": list(self.waived)},
            "reference_version": self.reference_version, "notes": list(self.notes),
        }


def _terms(terms: str) -> str:
    t = _ALIASES.get(terms.upper(), terms.upper())
    if t not in TERMS:
        raise TaxError(f"terms of sale {terms!r} not supported: give the value as CIF, CFR (C&F) or FOB")
    return t


def quote_import(items: Sequence[GoodsItem], *, declared_on: date, currency: str = "CNY", terms: str = "CIF",
                 freight: Decimal = ZERO, insurance: Decimal | None = ZERO,
                 exchange_rate: Decimal | None = None, duty_rates: Mapping[str, Decimal] | None = None,
                 lookup: Callable[..., HsLine] = hs_line,
                 rate_lookup: Callable[..., CustomsRate] = customs_rate_record,
                 rules: RuleSet | None = None) -> GeneralQuote:
    """Import duty, consumption tax and VAT of a general-trade declaration lodged on ``declared_on``."""
    if not items:
        raise TaxError("a declaration needs at least one goods item")
    t = _terms(terms)
    rules = rules or ruleset_for(declared_on)
    currency = currency.upper()
    if exchange_rate is not None:
        if exchange_rate <= 0:
            raise TaxError("exchange_rate must be positive")
        rate = CustomsRate(currency, f"{declared_on:%Y-%m}", Decimal(exchange_rate), "given")
    else:
        rate = rate_lookup(currency, on=declared_on)
    notes = []
    if rate.status not in ("official", "given", "identity"):
        notes.append(f"exchange rate {currency} {rate.month} is an {rate.status}, not the official customs rate")
    goods = sum((it.value for it in items), ZERO)
    if t == "CIF" and (freight or insurance):
        raise TaxError("CIF values already include freight and insurance; give them as 0")
    if t == "CFR" and freight:
        raise TaxError("CFR values already include freight; give freight as 0")
    assumed = insurance is None
    if insurance is None:
        insurance = round_fen((goods + freight) * rules.default_insurance_rate)
        notes.append(f"insurance not known: {rules.default_insurance_rate * 1000} per mille of goods + freight")
    values_cny = [round_fen(it.value * rate.cny_per_unit) for it in items]
    freight_cny = round_fen(freight * rate.cny_per_unit)
    insurance_cny = round_fen(insurance * rate.cny_per_unit)
    shares = apportion(freight_cny + insurance_cny, values_cny)
    hs = [lookup(it.hs_code, on=declared_on) for it in items]
    lines = []
    for it, h, v, s in zip(items, hs, values_cny, shares, strict=True):
        cif = v + s
        duty_rate = (duty_rates or {}).get(h.code, h.mfn_rate)
        qty = _quantity(it, h) if h.ct_kind in ("specific", "compound") else ZERO
        duty, ct, vat = statutory_taxes(cif, duty_rate, h.ct_rate, h.ct_amount, qty, h.vat_rate)
        lines.append(LineTax(number=it.number, hs_code=h.code, goods_value=v, head_share=s, dutiable_value=cif,
                             duty_rate=duty_rate, ct_kind=h.ct_kind, ct_rate=h.ct_rate, ct_specific=h.ct_amount,
                             ct_quantity=qty, vat_rate=h.vat_rate, share=ONE, duty=levy(duty),
                             consumption_tax=levy(ct), vat=levy(vat)))
        if h.ct_condition:
            notes.append(f"line {it.number}: consumption tax of {h.code} applies only above a price threshold "
                         f"({h.ct_condition}); applied in full here")
    waived = tuple(name for name in ("duty", "consumption_tax", "vat")
                   if ZERO < sum((getattr(ln, name) for ln in lines), ZERO) < rules.general_minimum_tax)
    if waived:
        notes.append(f"below {rules.general_minimum_tax} CNY, not levied: {', '.join(waived)}")
    return GeneralQuote(assessed_on=declared_on, ruleset=rules, terms=t, currency=currency, rate=rate,
                        goods_value=goods, freight=freight, insurance=insurance, insurance_assumed=assumed,
                        freight_cny=freight_cny, insurance_cny=insurance_cny, lines=tuple(lines), waived=waived,
                        reference_version=reference_version(), notes=tuple(notes))


def _quantity(it: GoodsItem, h: HsLine) -> Decimal:
    if it.unit == h.ct_unit and it.quantity is not None:
        return it.quantity
    if it.second_unit == h.ct_unit and it.second_quantity is not None:
        return it.second_quantity
    raise TaxError(f"item {it.number} {h.code}: the specific consumption tax ({h.ct_amount} CNY per unit "
                   f"{h.ct_unit}) needs the quantity in unit {h.ct_unit}")


def items_of_order(order) -> list[GoodsItem]:
    """The goods of an import order (CNY, CIF: the line totals) as general-trade items; the order's
    freight and insurance are then passed as ``freight``/``insurance`` with terms "FOB"."""
    return [GoodsItem(ln.number, ln.hs_code, ln.total_price, ln.legal_quantity, ln.legal_unit,
                      ln.second_quantity, ln.second_unit) for ln in order.lines]
