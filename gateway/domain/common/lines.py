"""Goods lines: the inspection data of a CBEC line and the checks every format makes of its lines.

The checks are pure; each returns the problems of one line (``at`` is its JSON path) and never raises.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from ..problems import Problem
from .money import round_fen, to_decimal

LINE_RULES = {
    "line-total": "a line's total_price = unit_price x quantity (exact, or rounded to the fen)",
    "legal-quantity": "legal_quantity is positive",
    "second-unit": "second_quantity and second_unit come together, and the quantity is positive",
}


@dataclass(frozen=True)
class LineInspection:
    """Inspection data of one goods line of a CBEC order, import or export (optional in the order;
    ``gateway.domain.inspection`` says when the goods require it)."""

    producer_registration: str | None = None   # foreign producer registration (519) / export producer filing (518)
    batch_no: str | None = None
    production_date: date | None = None
    expiry_date: date | None = None
    licence_no: str | None = None              # e.g. the CCC exemption certificate (410)
    ccc_certificate: str | None = None         # CCC certificate (411)
    quarantine_permit_no: str | None = None    # 进境动植物检疫许可证 (325)
    origin_region: str | None = None           # 原产地区
    purpose: str | None = None                 # CIQ purpose code (用途), e.g. 12 edible


_TEXT_FIELDS = ("producer_registration", "batch_no", "licence_no", "ccc_certificate", "quarantine_permit_no",
                "origin_region", "purpose")


def line_inspection(data: dict | None) -> LineInspection | None:
    """The typed ``inspection`` object of an order line (JSON that passed the schema and the date check)."""
    if not data:
        return None

    def day(name: str) -> date | None:
        return date.fromisoformat(data[name]) if data.get(name) is not None else None

    return LineInspection(**{name: data.get(name) for name in _TEXT_FIELDS},
                          production_date=day("production_date"), expiry_date=day("expiry_date"))


class GoodsLine(Protocol):
    @property
    def unit_price(self) -> Decimal: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def total_price(self) -> Decimal: ...
    @property
    def legal_quantity(self) -> Decimal: ...
    @property
    def second_quantity(self) -> Decimal | None: ...
    @property
    def second_unit(self) -> str | None: ...


def line_problems(at: str, line: GoodsLine) -> list[Problem]:
    """line-total, legal-quantity and second-unit of one line."""
    problems = []
    product = line.unit_price * line.quantity
    if line.total_price != product and line.total_price != round_fen(product):
        problems.append(Problem(f"{at}.total_price", "line-total",
                                f"{line.total_price} != unit_price {line.unit_price} x quantity {line.quantity} "
                                f"= {product}"))
    if line.legal_quantity <= 0:
        problems.append(Problem(f"{at}.legal_quantity", "legal-quantity", "must be greater than 0"))
    if (line.second_quantity is None) != (line.second_unit is None):
        missing = "second_unit" if line.second_unit is None else "second_quantity"
        problems.append(Problem(f"{at}.{missing}", "second-unit",
                                "second_quantity and second_unit must be given together"))
    elif line.second_quantity is not None and line.second_quantity <= 0:
        problems.append(Problem(f"{at}.second_quantity", "second-unit", "must be greater than 0"))
    return problems


def lines_total(lines) -> Decimal:
    """The sum of the lines' total_price."""
    return sum((line.total_price for line in lines), Decimal(0))


def goods_value_problems(goods_value: Decimal, lines) -> list[Problem]:
    line_sum = lines_total(lines)
    if line_sum != goods_value:
        return [Problem("$.goods_value", "goods-value", f"{goods_value} != sum of line totals {line_sum}")]
    return []


def weight_problems(at: str, net: Decimal, gross: Decimal) -> list[Problem]:
    """net-weight: the net weight at ``at`` is at most the gross weight."""
    if net > gross:
        return [Problem(at, "net-weight", f"net weight {net} kg exceeds gross weight {gross} kg")]
    return []


def optional_decimal(data: dict, key: str) -> Decimal | None:
    return to_decimal(data[key]) if key in data else None
