"""Shared pieces of the tax modules: errors, apportioning to the fen, per-line tax arithmetic."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from gateway.domain.common.money import FEN, round_fen

ZERO = Decimal(0)
ONE = Decimal(1)


class TaxError(ValueError):
    """Tax cannot be computed as asked (bad input, missing quantity, unknown terms ...)."""


def apportion(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` (a fen amount, may be negative) over lines in proportion to ``weights``,
    to the fen, so that the parts add up to ``total`` exactly.

    Largest-remainder method: every line first gets its exact share truncated toward zero to the
    fen; the fens still missing go one each to the lines with the largest truncated remainders
    (ties: the earlier line). Lines of weight 0 get 0. All weights 0 (and total not 0): TaxError.
    """
    total = Decimal(total)
    if total != total.quantize(FEN):
        raise TaxError(f"apportion: {total} is not an amount in fen")
    if any(w < 0 for w in weights):
        raise TaxError("apportion: weights must not be negative")
    if not weights:
        if total:
            raise TaxError("apportion: nothing to apportion to")
        return []
    base = sum(weights, ZERO)
    if base == 0:
        if total:
            raise TaxError(f"apportion: cannot apportion {total} over lines that are all worth 0")
        return [ZERO for _ in weights]
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    exact = [magnitude * w / base for w in weights]
    parts = [e.quantize(FEN, rounding=ROUND_DOWN) for e in exact]
    missing = int((magnitude - sum(parts, ZERO)) / FEN)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:missing]:
        parts[i] += FEN
    return [p * sign for p in parts]


@dataclass(frozen=True)
class LineTax:
    """The taxes of one goods line. Rates are fractions; amounts CNY, rounded to the fen."""

    number: int
    hs_code: str
    goods_value: Decimal            # the line's own value in CNY (before head amounts)
    head_share: Decimal             # apportioned freight + insurance (- discount) in CNY
    dutiable_value: Decimal         # goods_value + head_share
    duty_rate: Decimal
    ct_kind: str                    # none | ad_valorem | specific | compound (as applied)
    ct_rate: Decimal                # ad-valorem part applied (0 when not applied)
    ct_specific: Decimal            # CNY per ct unit applied (0 when not applied)
    ct_quantity: Decimal            # quantity the specific part was applied to
    vat_rate: Decimal
    share: Decimal                  # part of the statutory tax levied: 0.7 within CBEC limits, else 1
    duty: Decimal
    consumption_tax: Decimal
    vat: Decimal
    notes: tuple[str, ...] = field(default=())

    @property
    def total(self) -> Decimal:
        return self.duty + self.consumption_tax + self.vat

    def as_json(self) -> dict:
        return {
            "number": self.number, "hs_code": self.hs_code, "goods_value": str(self.goods_value),
            "head_share": str(self.head_share), "dutiable_value": str(self.dutiable_value),
            "rates": {"duty": str(self.duty_rate), "consumption_tax": str(self.ct_rate),
                      "consumption_tax_specific": str(self.ct_specific), "consumption_tax_kind": self.ct_kind,
                      "vat": str(self.vat_rate), "levied_share": str(self.share)},
            "ct_quantity": str(self.ct_quantity),
            "duty": str(self.duty), "consumption_tax": str(self.consumption_tax), "vat": str(self.vat),
            "total": str(self.total), "notes": list(self.notes),
        }


def statutory_taxes(value: Decimal, duty_rate: Decimal, ct_rate: Decimal, ct_specific: Decimal,
                    ct_quantity: Decimal, vat_rate: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """(duty, consumption tax, VAT) at full statutory rates, unrounded.

    duty = value x d
    consumption tax (composite assessable price) = (value + duty + q x s) / (1 - c) x c + q x s
        (ad valorem: s = 0; specific: c = 0, i.e. q x s)
    VAT = (value + duty + consumption tax) x v
    """
    if not ZERO <= ct_rate < ONE:
        raise TaxError(f"consumption-tax rate {ct_rate} must be in [0, 1)")
    duty = value * duty_rate
    specific = ct_quantity * ct_specific
    ct = (value + duty + specific) / (ONE - ct_rate) * ct_rate + specific
    vat = (value + duty + ct) * vat_rate
    return duty, ct, vat


def levy(amount: Decimal, share: Decimal = ONE) -> Decimal:
    """The levied amount: ``share`` of the statutory amount, rounded once to the fen (half up)."""
    return round_fen(amount * share)


def pct(fraction: Decimal) -> str:
    """0.13 -> "13", 0.091 -> "9.1" (for messages)."""
    return format((fraction * 100).normalize(), "f")
