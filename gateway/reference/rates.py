"""Customs monthly exchange rates (海关月度汇率), as of a date.

    customs_rate("USD", on=date(2024, 5, 20)) -> Decimal("7.1000")   (CNY per 1 USD, the month's rate)
    customs_rate_record("USD", on=...)        -> CustomsRate(month="2024-05", status="approximation", ...)

The rule (general-trade-inspection-fx-tax.md 3.4): the rate of a month is the PBOC central parity
of the third Wednesday of the previous month, published by GACC. THE FIGURES SHIPPED ARE NOT
OFFICIAL: ``status`` says "approximation" or "placeholder" (see the header of
``gateway/reference/data/customs_rates.csv``); results built from them carry that status along.
CNY is always 1. A currency or month we do not hold raises ``RateNotAvailable`` (a LookupError).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ._tables import ReferenceDataError, as_date, once, read_rows

__all__ = ["CustomsRate", "RateNotAvailable", "customs_rate", "customs_rate_record", "rate_currencies"]

STATUSES = ("official", "approximation", "placeholder")


class RateNotAvailable(ReferenceDataError):
    """No customs rate for that currency and month."""


@dataclass(frozen=True)
class CustomsRate:
    currency: str          # ISO letters
    month: str             # YYYY-MM the rate applies to
    cny_per_unit: Decimal  # CNY for 1 unit of the currency
    status: str            # official | approximation | placeholder (file); identity (CNY); given (caller)

    @property
    def official(self) -> bool:
        return self.status == "official"

    def as_json(self) -> dict:
        return {"currency": self.currency, "month": self.month, "cny_per_unit": str(self.cny_per_unit),
                "status": self.status}


@once
def _rates() -> dict[tuple[str, str], CustomsRate]:
    out: dict[tuple[str, str], CustomsRate] = {}
    for row in read_rows("customs_rates.csv"):
        if row["status"] not in STATUSES:
            raise ValueError(f"customs_rates.csv: bad status {row['status']!r}")
        key = (row["currency"].upper(), row["month"])
        if key in out:
            raise ValueError(f"customs_rates.csv: {key} twice")
        value = Decimal(row["cny_per_unit"])
        if value <= 0:
            raise ValueError(f"customs_rates.csv: {key} rate must be positive")
        out[key] = CustomsRate(key[0], key[1], value, row["status"])
    return out


def customs_rate_record(currency_iso: str, on: date | None = None) -> CustomsRate:
    """The customs rate record (value, month, status) for ``currency_iso`` in the month of ``on``."""
    when = as_date(on)
    month = f"{when.year:04d}-{when.month:02d}"
    code = str(currency_iso).strip().upper()
    if code == "CNY":
        return CustomsRate("CNY", month, Decimal(1), "identity")
    record = _rates().get((code, month))
    if record is None:
        held = sorted(m for c, m in _rates() if c == code)
        detail = f"held {held[0]} to {held[-1]}" if held else "currency not held"
        raise RateNotAvailable("customs_rates", code, when,
                               f"customs_rates: no customs exchange rate for {code} in {month} ({detail})")
    return record


def customs_rate(currency_iso: str, on: date | None = None) -> Decimal:
    """CNY per 1 unit of ``currency_iso`` for the month of ``on`` (None = today)."""
    return customs_rate_record(currency_iso, on).cny_per_unit


def rate_currencies() -> list[str]:
    return sorted({c for c, _ in _rates()})
