"""THE code-table module: customs numeric codes <-> ISO, units, ports, customs offices, trade and
transport modes. Every table carries valid_from / valid_to; pass ``on=`` (a date) to ask "as of".

    currency_iso("502", on=date(2026, 11, 1))   -> "USD"
    currency_numeric("USD", on=...)            -> "502"
    country_iso("303", on=...)                  -> "GBR"   (alpha=2 -> "GB")
    country_numeric("GBR" or "GB", on=...)      -> "303"
    unit_name("035")                            -> "千克"

``on=None`` means today (``date.today()``): convenient at a prompt, but builders and anything that
may be replayed should pass the filing's own date. Unknown codes raise ``UnknownCode``; codes outside
their validity raise ``NotInForce`` (both ``LookupError``; see ``gateway.reference``).
Data: ``gateway/reference/data/*.csv`` (sources and confidence in each file's header).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ._tables import Dated, DatedTable, NotInForce, UnknownCode, as_date, once

__all__ = [
    "CodeEntry", "Country", "Currency", "NamedCode", "NotInForce", "UnknownCode",
    "country", "country_iso", "country_numeric", "currency", "currency_iso", "currency_numeric",
    "customs_office", "port", "trade_mode", "transport_mode", "unit", "unit_name",
]


@dataclass(frozen=True, kw_only=True)
class NamedCode:
    """What every code-table row carries beside its codes: its names, the period it is in force and
    how sure the data is (``confidence``)."""

    name_zh: str
    name_en: str
    valid_from: date
    valid_to: date | None
    confidence: str


@dataclass(frozen=True)
class Currency(NamedCode):
    numeric: str
    iso: str


@dataclass(frozen=True)
class Country(NamedCode):
    numeric: str
    alpha3: str | None
    alpha2: str | None


@dataclass(frozen=True)
class CodeEntry(NamedCode):
    """A row of a simple code table (units, trade modes, transport modes, customs offices, ports)."""

    table: str
    code: str


def _named(d: Dated) -> dict:
    """The ``NamedCode`` fields of a table row."""
    c = d.cells
    return dict(name_zh=c["name_zh"], name_en=c["name_en"], valid_from=d.valid_from, valid_to=d.valid_to,
                confidence=c["confidence"])


@once
def _currencies() -> DatedTable:
    return DatedTable("currencies", "currencies.csv", ("numeric", "iso"))


@once
def _countries() -> DatedTable:
    return DatedTable("countries", "countries.csv", ("numeric", "alpha3", "alpha2"))


_SIMPLE = {
    "units": "units.csv", "trade_modes": "trade_modes.csv", "transport_modes": "transport_modes.csv",
    "customs_offices": "customs_offices.csv", "ports": "ports.csv",
}


@once
def _simple() -> dict[str, DatedTable]:
    return {name: DatedTable(name, filename, "code") for name, filename in _SIMPLE.items()}


def _is_numeric(code: str, width: int = 3) -> bool:
    return isinstance(code, str) and len(code) == width and code.isdigit()


# ---- currencies ----------------------------------------------------------------------------------

def currency(code: str, on: date | None = None) -> Currency:
    """The currency row for a numeric code ("502") or ISO letters ("USD"), as of ``on``."""
    d = _currencies().get(code, as_date(on))
    return Currency(d.cells["numeric"], d.cells["iso"], **_named(d))


def currency_iso(numeric: str, on: date | None = None) -> str:
    """ISO 4217 letters for a customs numeric currency code: "142" -> "CNY"."""
    if not _is_numeric(numeric):
        raise UnknownCode("currencies", str(numeric), None, f"currencies: {numeric!r} is not a 3-digit numeric code")
    return currency(numeric, on).iso


def currency_numeric(iso: str, on: date | None = None) -> str:
    """Customs numeric currency code for ISO 4217 letters: "USD" -> "502"."""
    if not (isinstance(iso, str) and len(iso) == 3 and iso.isalpha()):
        raise UnknownCode("currencies", str(iso), None, f"currencies: {iso!r} is not ISO 4217 letters")
    return currency(iso, on).numeric


# ---- countries -----------------------------------------------------------------------------------

def country(code: str, on: date | None = None) -> Country:
    """The country row for a numeric code ("303"), ISO alpha-3 ("GBR") or alpha-2 ("GB")."""
    d = _countries().get(code, as_date(on))
    return Country(d.cells["numeric"], d.cells["alpha3"] or None, d.cells["alpha2"] or None, **_named(d))


def country_iso(numeric: str, on: date | None = None, alpha: int = 3) -> str:
    """ISO 3166 code (alpha-3 by default, ``alpha=2`` for two letters) for a customs numeric code.
    Raises UnknownCode for codes with no ISO equivalent (701 unknown, 999 neutral packing)."""
    if not _is_numeric(numeric):
        raise UnknownCode("countries", str(numeric), None, f"countries: {numeric!r} is not a 3-digit numeric code")
    if alpha not in (2, 3):
        raise ValueError("alpha is 2 or 3")
    row = country(numeric, on)
    iso = row.alpha3 if alpha == 3 else row.alpha2
    if iso is None:
        raise UnknownCode("countries", numeric, as_date(on), f"countries: {numeric} ({row.name_zh}) has no ISO code")
    return iso


def country_numeric(iso: str, on: date | None = None) -> str:
    """Customs numeric country code for ISO alpha-3 or alpha-2: "GBR" / "GB" -> "303"."""
    if not (isinstance(iso, str) and len(iso) in (2, 3) and iso.isalpha()):
        raise UnknownCode("countries", str(iso), None, f"countries: {iso!r} is not an ISO alpha-2/alpha-3 code")
    return country(iso, on).numeric


# ---- simple tables -------------------------------------------------------------------------------

def _entry(table: str, code: str, on: date | None) -> CodeEntry:
    d = _simple()[table].get(code, as_date(on))
    return CodeEntry(table, d.cells["code"], **_named(d))


def unit(code: str, on: date | None = None) -> CodeEntry:
    """A customs unit of measure: unit("035").name_zh == "千克"."""
    return _entry("units", code, on)


def unit_name(code: str, on: date | None = None, lang: str = "zh") -> str:
    """The name of a customs unit code: "035" -> "千克" (``lang="en"`` -> "kilogram")."""
    entry = unit(code, on)
    return entry.name_zh if lang == "zh" else entry.name_en


def trade_mode(code: str, on: date | None = None) -> CodeEntry:
    """监管方式: trade_mode("9710", on=date(2020, 6, 30)) raises NotInForce (in force from 2020-07-01)."""
    return _entry("trade_modes", code, on)


def transport_mode(code: str, on: date | None = None) -> CodeEntry:
    return _entry("transport_modes", code, on)


def customs_office(code: str, on: date | None = None) -> CodeEntry:
    return _entry("customs_offices", code, on)


def port(code: str, on: date | None = None) -> CodeEntry:
    return _entry("ports", code, on)

