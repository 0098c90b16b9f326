"""Export VAT rebate (出口退(免)税) declaration data, per export declaration.

Cases (general-trade-inspection-fx-tax.md 4.1, 4.2; tags there):

- "refund" (免退): a trading firm (外贸企业) with purchase VAT invoices, general trade (0110) or CBEC
  export (9610/9710/9810) [U]: refund = invoice amount excluding VAT x rebate rate, where the rate is
  the HS line's rebate rate on the export date [C for the export-date rule], capped at the invoice's
  own VAT rate [U]. The rest of the invoice VAT (VAT - refund) is not refundable (cost).
  9610 with invoices also needs the payment collected before the filing deadline [C].
- "exempt" (无票免税, 财税〔2018〕103号 [C]): 9610 retail export without purchase invoices by an exporter
  registered in a comprehensive pilot zone: VAT exempt, no refund.
- "credit-refund" (免抵退): a manufacturer: FOB in CNY x rebate rate is the credit-and-refund amount;
  refund = min(closing input-VAT credit, that amount), the rest is offset (免抵);
  FOB in CNY x (VAT rate - rebate rate) is not creditable [U].
- "exempt-no-refund": rebate rate 0 (refund cancelled for the goods): exempt, no refund [U].
- "not-eligible": a condition is missing; ``reasons`` says which.

FOB is converted to CNY at the customs monthly rate of the export date unless ``exchange_rate`` is
given (exporters may use the central parity of the export day or of the 1st of the month [U]).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from gateway.domain.common.money import round_fen
from gateway.reference import version as reference_version
from gateway.reference.hs import HsLine, hs_line
from gateway.reference.rates import CustomsRate, customs_rate_record

from .common import ZERO, TaxError
from .rulesets import RuleSet, ruleset_for

__all__ = ["ExportDeclaration", "ExportItem", "PurchaseInvoice", "RebateLine", "RebateRecord", "rebate_record"]

EXPORT_REGIMES = ("0110", "9610", "9710", "9810", "1039")
CBEC_EXPORT = ("9610", "9710", "9810")


@dataclass(frozen=True)
class PurchaseInvoice:
    """A special VAT invoice for goods bought for export (trading firms)."""

    code: str
    number: str
    issued_on: date
    amount: Decimal            # excluding VAT (计税金额)
    vat: Decimal               # VAT on the invoice
    vat_rate: Decimal          # fraction
    supplier_tax_id: str


@dataclass(frozen=True)
class ExportItem:
    number: int                # item number on the customs declaration
    hs_code: str
    name: str
    unit: str
    quantity: Decimal
    fob: Decimal               # FOB value in the declaration currency
    invoices: tuple[PurchaseInvoice, ...] = ()


@dataclass(frozen=True)
class ExportDeclaration:
    regime: str                                  # 0110, 9610, 9710, 9810, 1039
    declaration_no: str                          # 18-digit customs declaration (or inventory) number
    export_date: date
    currency: str                                # ISO letters
    exporter_kind: str                           # "trading" | "manufacturer"
    items: tuple[ExportItem, ...]
    fx_collected: bool | None = None             # payment received before the filing deadline
    pilot_zone_registered: bool = False          # registered in a comprehensive pilot zone (无票免税)
    closing_input_credit: Decimal | None = None  # manufacturer: closing input-VAT credit of the period


@dataclass(frozen=True)
class RebateLine:
    number: int
    hs_code: str
    name: str
    unit: str
    quantity: Decimal
    fob: Decimal
    fob_cny: Decimal
    vat_rate: Decimal
    rebate_rate: Decimal                 # the HS line's rate on the export date
    applied_rate: Decimal                # the rate actually applied (capped by the invoice rate)
    invoice_amount: Decimal              # sum of the purchase invoices, excluding VAT
    invoice_vat: Decimal
    refund: Decimal                      # refundable VAT (trading firms); credit-refund amount (manufacturers)
    not_refundable: Decimal              # invoice VAT - refund, or FOB x (VAT - rebate) for manufacturers
    invoices: tuple[PurchaseInvoice, ...] = ()

    def as_json(self) -> dict:
        return {"number": self.number, "hs_code": self.hs_code, "name": self.name, "unit": self.unit,
                "quantity": str(self.quantity), "fob": str(self.fob), "fob_cny": str(self.fob_cny),
                "vat_rate": str(self.vat_rate), "rebate_rate": str(self.rebate_rate),
                "applied_rate": str(self.applied_rate), "invoice_amount": str(self.invoice_amount),
                "invoice_vat": str(self.invoice_vat), "refund": str(self.refund),
                "not_refundable": str(self.not_refundable),
                "invoices": [{"code": i.code, "number": i.number, "issued_on": i.issued_on.isoformat(),
                              "amount": str(i.amount), "vat": str(i.vat), "vat_rate": str(i.vat_rate),
                              "supplier_tax_id": i.supplier_tax_id} for i in self.invoices]}


@dataclass(frozen=True)
class RebateRecord:
    declaration: ExportDeclaration
    outcome: str                          # refund | exempt | credit-refund | exempt-no-refund | not-eligible
    vat_exempt: bool
    rate: CustomsRate
    ruleset: RuleSet
    lines: tuple[RebateLine, ...]
    refund: Decimal                       # total refundable now
    offset: Decimal                       # manufacturers: 免抵 amount
    reasons: tuple[str, ...] = ()
    reference_version: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def fob_cny(self) -> Decimal:
        return sum((ln.fob_cny for ln in self.lines), ZERO)

    def as_json(self) -> dict:
        d = self.declaration
        return {"kind": "export-rebate", "regime": d.regime, "declaration_no": d.declaration_no,
                "export_date": d.export_date.isoformat(), "exporter_kind": d.exporter_kind,
                "currency": d.currency, "exchange_rate": self.rate.as_json(), "ruleset": self.ruleset.as_json(),
                "outcome": self.outcome, "vat_exempt": self.vat_exempt, "refund": str(self.refund),
                "offset": str(self.offset), "fob_cny": str(self.fob_cny),
                "lines": [ln.as_json() for ln in self.lines], "reasons": list(self.reasons),
                "reference_version": self.reference_version, "notes": list(self.notes)}


def rebate_record(decl: ExportDeclaration, *, exchange_rate: Decimal | None = None,
                  lookup: Callable[..., HsLine] = hs_line,
                  rate_lookup: Callable[..., CustomsRate] = customs_rate_record) -> RebateRecord:
    """The rebate / exemption data of one export declaration."""
    if decl.regime not in EXPORT_REGIMES:
        raise TaxError(f"no export rebate rules for regime {decl.regime}; known: {', '.join(EXPORT_REGIMES)}")
    if decl.exporter_kind not in ("trading", "manufacturer"):
        raise TaxError(f"exporter_kind is 'trading' or 'manufacturer', not {decl.exporter_kind!r}")
    if not decl.items:
        raise TaxError("an export declaration needs at least one item")
    rules = ruleset_for(decl.export_date)
    if exchange_rate is not None:
        rate = CustomsRate(decl.currency.upper(), f"{decl.export_date:%Y-%m}", Decimal(exchange_rate), "given")
    else:
        rate = rate_lookup(decl.currency, on=decl.export_date)
    notes = []
    if rate.status not in ("official", "given", "identity"):
        notes.append(f"exchange rate {rate.currency} {rate.month} is an {rate.status}, not an official rate")
    hs = [lookup(it.hs_code, on=decl.export_date) for it in decl.items]
    has_invoices = all(it.invoices for it in decl.items)
    reasons: list[str] = []
    manufacturer = decl.exporter_kind == "manufacturer"

    if not manufacturer and not has_invoices:
        if decl.regime == "9610" and not any(it.invoices for it in decl.items):
            if decl.pilot_zone_registered:
                lines = [_line(it, h, rate, ZERO, ZERO, ZERO) for it, h in zip(decl.items, hs, strict=True)]
                return RebateRecord(decl, "exempt", True, rate, rules, tuple(lines), ZERO, ZERO,
                                    ("9610 without purchase invoices in a comprehensive pilot zone: "
                                     "VAT exempt, no refund (无票免税)",), reference_version(), tuple(notes))
            reasons.append("9610 without purchase invoices is exempt only for exporters registered in a "
                           "comprehensive pilot zone (财税〔2018〕103号)")
        else:
            missing = [str(it.number) for it in decl.items if not it.invoices]
            reasons.append(f"trading firm without purchase invoices for item(s) {', '.join(missing)}")
    if decl.regime in CBEC_EXPORT and decl.fx_collected is not True:
        reasons.append("CBEC export with invoices needs the payment collected before the filing deadline")
    if manufacturer and decl.closing_input_credit is None:
        reasons.append("a manufacturer's credit-and-refund needs the closing input-VAT credit of the period")
    if reasons:
        lines = [_line(it, h, rate, ZERO, ZERO, ZERO) for it, h in zip(decl.items, hs, strict=True)]
        return RebateRecord(decl, "not-eligible", False, rate, rules, tuple(lines), ZERO, ZERO, tuple(reasons),
                            reference_version(), tuple(notes))

    lines = []
    for it, h in zip(decl.items, hs, strict=True):
        fob_cny = round_fen(it.fob * rate.cny_per_unit)
        if manufacturer:
            refund = round_fen(fob_cny * h.rebate_rate)
            lines.append(_line(it, h, rate, h.rebate_rate, refund,
                               round_fen(fob_cny * (h.vat_rate - h.rebate_rate))))
        else:
            applied = min([h.rebate_rate] + [inv.vat_rate for inv in it.invoices])
            if applied < h.rebate_rate:
                notes.append(f"item {it.number}: rebate capped at the invoice VAT rate {applied}")
            amount = sum((inv.amount for inv in it.invoices), ZERO)
            vat = sum((inv.vat for inv in it.invoices), ZERO)
            refund = round_fen(amount * applied)
            lines.append(_line(it, h, rate, applied, refund, vat - refund))
    total = sum((ln.refund for ln in lines), ZERO)
    if all(h.rebate_rate == 0 for h in hs):
        return RebateRecord(decl, "exempt-no-refund", True, rate, rules, tuple(lines), ZERO, ZERO,
                            ("rebate rate 0 for these goods: exempt, no refund",), reference_version(), tuple(notes))
    if manufacturer:
        assert decl.closing_input_credit is not None   # no credit: refused with a reason above
        refund = min(total, max(decl.closing_input_credit, ZERO))
        return RebateRecord(decl, "credit-refund", True, rate, rules, tuple(lines), refund, total - refund, (),
                            reference_version(), tuple(notes))
    return RebateRecord(decl, "refund", True, rate, rules, tuple(lines), total, ZERO, (), reference_version(),
                        tuple(notes))


def _line(it: ExportItem, h: HsLine, rate: CustomsRate, applied: Decimal, refund: Decimal,
          not_refundable: Decimal) -> RebateLine:
    return RebateLine(number=it.number, hs_code=h.code, name=it.name, unit=it.unit, quantity=it.quantity,
                      fob=it.fob, fob_cny=round_fen(it.fob * rate.cny_per_unit), vat_rate=h.vat_rate,
                      rebate_rate=h.rebate_rate, applied_rate=applied,
                      invoice_amount=sum((i.amount for i in it.invoices), ZERO),
                      invoice_vat=sum((i.vat for i in it.invoices), ZERO), refund=refund,
                      not_refundable=not_refundable, invoices=it.invoices)
