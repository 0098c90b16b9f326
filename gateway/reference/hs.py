"""HS lines (10-digit commodity codes) with their rates and controls, as of a date.

    line = hs_line("3304990099", on=date(2026, 11, 22))
    line.vat_rate        -> Decimal("0.13")
    line.ct_rate         -> Decimal("0.15")   (ct_condition "high-end-cosmetics")
    line.mfn_rate, line.rebate_rate, line.regulatory_conditions, line.inspection_import ...

Rates are fractions (0.13), never percent, never float. Unknown codes raise ``UnknownHsCode``; a
date outside every row of a known code raises ``HsLineNotInForce`` (the message lists the periods
that exist). Data and its confidence: ``gateway/reference/data/hs_lines.csv`` (read its header:
the rates there are unconfirmed background knowledge, not an extract of the official tariff).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal

from ._tables import DatedTable, NotInForce, UnknownCode, as_date, once

__all__ = ["CT_KINDS", "HsLine", "HsLineNotInForce", "UnknownHsCode", "hs_line", "hs_codes", "hs_versions"]

CT_KINDS = ("none", "ad_valorem", "specific", "compound")
CT_CONDITIONS = ("", "high-end-cosmetics", "high-end-watch")
HUNDRED = Decimal(100)


class UnknownHsCode(UnknownCode):
    """The 10-digit code is not in our HS data."""


class HsLineNotInForce(NotInForce):
    """The code is known, but no row of it is in force on that date."""


@dataclass(frozen=True)
class HsLine:
    code: str
    name_zh: str
    name_en: str
    unit1: str                       # first legal unit (customs unit code)
    unit2: str | None                # second legal unit, if any
    regulatory_conditions: str       # 监管条件 letters, e.g. "AB"
    inspection_categories: str       # 检验检疫类别 as written, e.g. "P.R/Q.S"
    vat_rate: Decimal                # fraction, e.g. 0.13
    ct_kind: str                     # none | ad_valorem | specific | compound
    ct_rate: Decimal                 # ad-valorem part (fraction); 0 when none/specific
    ct_amount: Decimal               # specific part in CNY per ct_unit; 0 when none/ad_valorem
    ct_unit: str | None              # customs unit the specific part is per (e.g. 095 litre)
    ct_condition: str                # "" or a threshold rule name (high-end-cosmetics, high-end-watch)
    mfn_rate: Decimal                # MFN import duty (fraction)
    rebate_rate: Decimal             # export VAT rebate rate (fraction)
    cbec_list: bool                  # on the CBEC retail import positive list
    valid_from: date
    valid_to: date | None            # exclusive
    confidence: str                  # C / P / U for the rates of this row
    note: str

    @property
    def import_inspection(self) -> bool:
        """监管条件 contains A: legal inspection on import."""
        return "A" in self.regulatory_conditions

    @property
    def export_inspection(self) -> bool:
        """监管条件 contains B: legal inspection on export."""
        return "B" in self.regulatory_conditions

    @property
    def inspection_import(self) -> tuple[str, ...]:
        """Import inspection category letters (before the "/"), e.g. ("P", "R")."""
        return tuple(c for c in self.inspection_categories.split("/")[0] if c.isalpha())

    @property
    def inspection_export(self) -> tuple[str, ...]:
        parts = self.inspection_categories.split("/")
        return tuple(c for c in parts[1] if c.isalpha()) if len(parts) > 1 else ()

    def as_json(self) -> dict:
        """JSON-ready dict: Decimals as strings, rates also in percent, dates ISO."""
        d = asdict(self)
        for k, v in list(d.items()):
            if isinstance(v, Decimal):
                d[k] = str(v)
            elif isinstance(v, date):
                d[k] = v.isoformat()
        d["import_inspection"], d["export_inspection"] = self.import_inspection, self.export_inspection
        d["percent"] = {k: _pct(getattr(self, k)) for k in ("vat_rate", "ct_rate", "mfn_rate", "rebate_rate")}
        return d


def _pct(fraction: Decimal) -> str:
    return format((fraction * HUNDRED).normalize(), "f")


def _fraction(percent: str) -> Decimal:
    return (Decimal(percent) / HUNDRED) if percent else Decimal(0)


def _line(d) -> HsLine:
    c = d.cells
    kind = c["ct_kind"] or "none"
    if kind not in CT_KINDS or c["ct_condition"] not in CT_CONDITIONS:
        raise ValueError(f"hs_lines.csv: {c['code']}: bad ct_kind {kind!r} or ct_condition {c['ct_condition']!r}")
    return HsLine(
        code=c["code"], name_zh=c["name_zh"], name_en=c["name_en"], unit1=c["unit1"], unit2=c["unit2"] or None,
        regulatory_conditions=c["regulatory_conditions"], inspection_categories=c["inspection_categories"],
        vat_rate=_fraction(c["vat_pct"]), ct_kind=kind, ct_rate=_fraction(c["ct_pct"]),
        ct_amount=Decimal(c["ct_amount"]) if c["ct_amount"] else Decimal(0), ct_unit=c["ct_unit"] or None,
        ct_condition=c["ct_condition"], mfn_rate=_fraction(c["mfn_pct"]), rebate_rate=_fraction(c["rebate_pct"]),
        cbec_list=c["cbec_list"] == "Y", valid_from=d.valid_from, valid_to=d.valid_to,
        confidence=c["confidence"], note=c["note"],
    )


@once
def _table() -> tuple[DatedTable, dict[int, HsLine]]:
    table = DatedTable("hs_lines", "hs_lines.csv", "code")
    lines = {}
    for code in table.codes():
        if not (len(code) == 10 and code.isdigit()):
            raise ValueError(f"hs_lines.csv: {code!r} is not a 10-digit code")
        for d in table.versions(code):
            lines[id(d)] = _line(d)      # parsed and checked once, at load
    return table, lines


def hs_line(code: str, on: date | None = None) -> HsLine:
    """The HS line of ``code`` in force on ``on`` (None = today).

    Raises UnknownHsCode (not in our data) or HsLineNotInForce (known, not in force that day).
    """
    when = as_date(on)
    table, lines = _table()
    code = str(code).strip()
    try:
        return lines[id(table.get(code, when))]
    except NotInForce as exc:
        raise HsLineNotInForce("hs_lines", code, when, exc.windows) from None
    except UnknownCode:
        raise UnknownHsCode("hs_lines", code, when,
                            f"hs_lines: unknown HS code {code!r} (not in gateway/reference/data/hs_lines.csv)") from None


def hs_versions(code: str) -> list[HsLine]:
    """Every row of ``code``, oldest first ([] when unknown)."""
    table, lines = _table()
    return [lines[id(d)] for d in table.versions(code)]


def hs_codes() -> list[str]:
    return _table()[0].codes()
