"""Command line for reference data, taxes and FX:

    gateway reference hs CODE [--date D]                       one HS line as JSON
    gateway reference code TABLE CODE [--date D]               a code-table row (currencies, countries, units, ...)
    gateway reference rate CURRENCY [--date D]                 the customs monthly rate
    gateway tax quote ORDER.json [--date D] [--annual-used A] [--regime cbec|general]
    gateway fx record ORDER.json [--date D]

Orders of every format (gateway.domain.parse.parse_order; the tax by gateway.domain.quotes.tax_quote).
Output is JSON on stdout (money as strings). Exit 0 on success, 1 when the order is refused
(CBEC limit, FX limit), 2 for bad input (unreadable file, invalid order, unknown code or date, an
order with no tax to quote); errors are one ``error:`` line on stderr.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from gateway.domain import fx, quotes
from gateway.domain.parse import parse_order
from gateway.domain.problems import OrderInvalid
from gateway.domain.tax import TaxError, cbec
from gateway.domain.tax.rulesets import NoRuleSet
from gateway.reference import ReferenceDataError, codes
from gateway.reference.hs import hs_line
from gateway.reference.rates import customs_rate_record

from .common import AMOUNT, BAD_INPUT, DATE, FAILED, OK, fail, problem_lines


@click.group("reference")
def reference() -> None:
    """Reference data: HS lines, code tables, customs exchange rates."""


@click.group("tax")
def tax() -> None:
    """Taxes of an order."""


@click.group("fx")
def fx_group() -> None:
    """FX / balance-of-payments record of an order."""


def _print(data) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


# ---- reference -----------------------------------------------------------------------------------

@reference.command("hs")
@click.argument("code")
@click.option("--date", "on", type=DATE, help="as of this date (default today)")
def reference_hs(code, on) -> int:
    """One HS line (rates, units, controls) as JSON; CODE is the 10-digit commodity code."""
    try:
        line = hs_line(code, on=on or date.today())
    except ReferenceDataError as exc:
        return fail(BAD_INPUT, f"reference hs: {exc}")
    _print(line.as_json())
    return OK


_TABLES: dict[str, Callable[..., Any]] = {"currencies": codes.currency, "countries": codes.country, "units": codes.unit,
           "trade_modes": codes.trade_mode, "transport_modes": codes.transport_mode,
           "customs_offices": codes.customs_office, "ports": codes.port}


@reference.command("code")
@click.argument("table", type=click.Choice(list(_TABLES)))
@click.argument("code")
@click.option("--date", "on", type=DATE, help="as of this date (default today)")
def reference_code(table, code, on) -> int:
    """One row of a code table as JSON."""
    try:
        row = _TABLES[table](code, on=on or date.today())
    except ReferenceDataError as exc:
        return fail(BAD_INPUT, f"reference code: {exc}")
    _print({k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(row).items()})
    return OK


@reference.command("rate")
@click.argument("currency")
@click.option("--date", "on", type=DATE, help="a day of the month wanted (default today)")
def reference_rate(currency, on) -> int:
    """The customs monthly exchange rate (CNY per unit of CURRENCY, ISO 4217) as JSON."""
    try:
        _print(customs_rate_record(currency, on=on or date.today()).as_json())
    except ReferenceDataError as exc:
        return fail(BAD_INPUT, f"reference rate: {exc}")
    return OK


# ---- tax and fx ------------------------------------------------------------------------------------

class _Refused(Exception):
    """The command cannot take this order: the message says why (exit 2)."""


def _load_order(path: str):
    """The order of any format (gateway.domain.parse), or _Refused with the reason."""
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise _Refused(f"cannot read {path}: {exc.strerror}") from None
    try:
        return parse_order(text)
    except OrderInvalid as exc:
        raise _Refused(f"{path} is not a valid order ({len(exc.problems)} problems):",
                       problem_lines(exc.problems)) from None


@tax.command("quote")
@click.argument("order")
@click.option("--date", "on", type=DATE, help="assess as of this date (default: the order's date)")
@click.option("--annual-used", type=AMOUNT, default=Decimal(0),
              help="CNY the buyer already used of the annual CBEC limit this year (default 0)")
@click.option("--regime", type=click.Choice(["cbec", "general"]), default="cbec",
              help="a CBEC import: cbec, the retail import comprehensive tax (default); general, the same goods "
                   "as general trade")
def tax_quote(order, on, annual_used, regime) -> int:
    """The tax of ORDER (a JSON file of any format, docs/order-format.md) as JSON: every tax per line and
    in total, with rates, rule set and exchange rate (an export: its rebate data). An order with no tax
    to quote is refused in one line (exit 2); one over a CBEC limit too (exit 1)."""
    try:
        parsed = _load_order(order)
    except _Refused as exc:
        return fail(BAD_INPUT, f"tax quote: {exc.args[0]}", *exc.args[1:])
    try:
        data = quotes.tax_quote(parsed, on=on, annual_used=annual_used, as_general_trade=regime == "general")
    except cbec.CbecRefused as exc:
        return fail(FAILED, f"tax quote: refused as CBEC ({exc.limit} limit): {exc}")
    except (TaxError, ReferenceDataError, NoRuleSet) as exc:
        return fail(BAD_INPUT, f"tax quote: {exc}")
    _print(data)
    return OK


@fx_group.command("record")
@click.argument("order")
@click.option("--date", "on", type=DATE, help="declaration date (default: the order's date)")
def fx_record(order, on) -> int:
    """The BOP record of ORDER (a JSON file of any format) as JSON."""
    try:
        parsed = _load_order(order)
    except _Refused as exc:
        return fail(BAD_INPUT, f"fx record: {exc.args[0]}", *exc.args[1:])
    try:
        record = fx.fx_record_for_order(parsed, declared_on=on)
    except fx.FxLimitExceeded as exc:
        return fail(FAILED, f"fx record: {exc}")
    except (fx.FxError, ReferenceDataError, NoRuleSet) as exc:
        return fail(BAD_INPUT, f"fx record: {exc}")
    _print(record.as_json())
    return OK


COMMANDS = (reference, tax, fx_group)
