"""The sandbox customs' tax bill (CEB816) of a concluded CBEC import inventory, computed by the
sandbox itself from what it received (its own code: nothing from gateway.domain or
gateway.declarations; rates and units from the reference data, gateway.reference.hs, the published
tariff the gateway reads too). So "the bill = our quote" on the gateway's side is a real check:
a test scripts a different bill (``SandboxScript().misbill``) and sees the gateway flag it.

The published rules (shared/domain/ceb-messages.md §7.4, general-trade-inspection-fx-tax.md §4.4):

- dutiable value of a line = its total price + its share of the inventory's freight + insured fee,
  shared by line value to the fen (the largest remainders get the last fen; the inventory carries
  no discount);
- within the limits: duty 0, consumption tax and VAT at 70 % of the statutory amounts;
  one single item over the single-transaction limit (policy.py): duty, CT and VAT in full;
- statutory CT = (P + duty + q × s) / (1 − c) × c + q × s; VAT = (P + duty + CT) × v;
  each levied amount rounded once to the fen, half up;
- consumption tax on cosmetics only from 10 CNY per ml/g or 15 CNY per piece, on watches from
  10,000 CNY each (applied when the legal unit cannot tell).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from gateway.reference import ReferenceDataError
from gateway.reference.hs import hs_line

from . import policy
from .documents import Filing

FEN = Decimal("0.01")
WITHIN_SHARE = Decimal("0.7")
_PER_GRAM_OR_ML = {"035": Decimal(1000), "036": Decimal(1), "095": Decimal(1000), "096": Decimal(1)}
_PIECES = {"020", "010"}
_WATCH_UNITS = {"008", "007", "011"}


class NoBill(Exception):
    """Customs cannot bill this inventory as a CBEC retail import (unknown HS code, off the list...)."""


@dataclass(frozen=True)
class BillLine:
    gnum: str
    gcode: str
    tax_price: Decimal
    duty: Decimal
    vat: Decimal
    consumption_tax: Decimal


@dataclass(frozen=True)
class Bill:
    on: date
    full: bool
    lines: tuple[BillLine, ...]

    @property
    def duty(self) -> Decimal:
        return sum((ln.duty for ln in self.lines), Decimal(0))

    @property
    def vat(self) -> Decimal:
        return sum((ln.vat for ln in self.lines), Decimal(0))

    @property
    def consumption_tax(self) -> Decimal:
        return sum((ln.consumption_tax for ln in self.lines), Decimal(0))

    def with_vat_added(self, amount: Decimal) -> Bill:
        """The same bill, ``amount`` more VAT on its first line (a scripted wrong bill)."""
        if not amount:
            return self
        first, *rest = self.lines
        return Bill(self.on, self.full, (BillLine(first.gnum, first.gcode, first.tax_price, first.duty,
                                                  first.vat + amount, first.consumption_tax), *rest))


def compute(inventory: Filing, on: date) -> Bill:
    """The tax of ``inventory`` (a CEB621 as received) on ``on``; NoBill when it cannot be billed."""
    try:
        lines = inventory.lines
        totals = [_amount(line.get("totalPrice")) for line in lines]
        head = _amount(inventory.get("freight") or "0") + _amount(inventory.get("insuredFee") or "0")
        shares = _share(head, totals)
        values = [t + s for t, s in zip(totals, shares, strict=True)]
        value = sum(values, Decimal(0))
        full = policy.full_tax(value, on)
        levied = Decimal(1) if full else WITHIN_SHARE
        out = []
        for line, line_value in zip(lines, values, strict=True):
            row = hs_line(line.get("gcode", ""), on=on)
            if not row.cbec_list:
                raise NoBill(f"{row.code} is not on the CBEC retail import list")
            duty_rate = row.mfn_rate if full else Decimal(0)
            ct_rate, ct_specific, quantity = _consumption(row, line, line_value)
            duty = line_value * duty_rate
            specific = quantity * ct_specific
            ct = (line_value + duty + specific) / (1 - ct_rate) * ct_rate + specific
            vat = (line_value + duty + ct) * row.vat_rate
            out.append(BillLine(line.get("gnum", ""), row.code, line_value, _fen(duty * levied),
                                _fen(vat * levied), _fen(ct * levied)))
    except (ReferenceDataError, LookupError, InvalidOperation, ValueError, ZeroDivisionError) as e:
        raise NoBill(str(e)) from e
    if not out:
        raise NoBill("an inventory without lines")
    return Bill(on, full, tuple(out))


def _consumption(row, line: dict, value: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """(ad-valorem rate, specific amount, quantity) of the line's consumption tax, zeros when none."""
    if row.ct_kind == "none" or not _ct_applies(row, line, value):
        return Decimal(0), Decimal(0), Decimal(0)
    if row.ct_kind == "ad_valorem":
        return row.ct_rate, Decimal(0), Decimal(0)
    for unit, qty in ((line.get("unit1"), line.get("qty1")), (line.get("unit2"), line.get("qty2")),
                      (line.get("unit"), line.get("qty"))):
        if unit and unit == row.ct_unit and qty:
            return row.ct_rate, row.ct_amount, _amount(qty)
    raise NoBill(f"line {line.get('gnum')}: no quantity in unit {row.ct_unit} for the specific consumption tax")


def _ct_applies(row, line: dict, value: Decimal) -> bool:
    legal_unit, legal_qty = line.get("unit1", ""), _amount(line.get("qty1") or "0")
    if row.ct_condition == "high-end-cosmetics":
        if legal_unit in _PER_GRAM_OR_ML and legal_qty > 0:
            return value / (legal_qty * _PER_GRAM_OR_ML[legal_unit]) >= 10
        if legal_unit in _PIECES and legal_qty > 0:
            return value / legal_qty >= 15
        return True
    if row.ct_condition == "high-end-watch":
        count = legal_qty if legal_unit in _WATCH_UNITS else _amount(line.get("qty") or "0")
        return count <= 0 or value / count >= 10000
    return True


def _share(head: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """``head`` (fen) over the lines by value: each its share cut to the fen, the missing fens one
    each to the largest cut-off remainders (the earlier line on a tie)."""
    head = _fen(head)
    base = sum(weights, Decimal(0))
    if not head or base <= 0:
        return [Decimal(0) for _ in weights]
    exact = [head * w / base for w in weights]
    cut = [e.quantize(FEN, rounding=ROUND_DOWN) for e in exact]
    missing = int((head - sum(cut, Decimal(0))) / FEN)
    order = sorted(range(len(weights)), key=lambda i: (-(abs(exact[i] - cut[i])), i))
    step = FEN if head > 0 else -FEN
    for i in order[:abs(missing)]:
        cut[i] += step
    return cut


def _amount(text) -> Decimal:
    value = Decimal(str(text))
    if not value.is_finite():
        raise ValueError(f"not an amount: {text!r}")
    return value


def _fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)
