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


class _Refused(Exception):
    """The command cannot take this order: the message says why (exit 2), the details under it."""


def _answer(command: str, produce: Callable[[], Any], bad: tuple[type[Exception], ...] = (ReferenceDataError,),
            refused: tuple[type[Exception], ...] = (), why: Callable[[Any], str] = str) -> int:
    """Print what ``produce`` returns as JSON (exit 0); an exception of ``refused`` exits 1, one of ``bad``
    or _Refused 2, each in one ``error: <command>: ...`` line (``why`` words a refusal)."""
    try:
        data = produce()
    except _Refused as exc:
        return fail(BAD_INPUT, f"{command}: {exc.args[0]}", *exc.args[1:])
    except refused as exc:
        return fail(FAILED, f"{command}: {why(exc)}")
    except bad as exc:
        return fail(BAD_INPUT, f"{command}: {exc}")
    _print(data)
    return OK


# ---- reference -----------------------------------------------------------------------------------

@reference.command("hs")
@click.argument("code")
@click.option("--date", "on", type=DATE, help="as of this date (default today)")
def reference_hs(code, on) -> int:
    """One HS line (rates, units, controls) as JSON; CODE is the 10-digit commodity code."""
    return _answer("reference hs", lambda: hs_line(code, on=on or date.today()).as_json())


_TABLES: dict[str, Callable[..., Any]] = {"currencies": codes.currency, "countries": codes.country, "units": codes.unit,
           "trade_modes": codes.trade_mode, "transport_modes": codes.transport_mode,
           "customs_offices": codes.customs_office, "ports": codes.port}


@reference.command("code")
@click.argument("table", type=click.Choice(list(_TABLES)))
@click.argument("code")
@click.option("--date", "on", type=DATE, help="as of this date (default today)")
def reference_code(table, code, on) -> int:
    """One row of a code table as JSON."""
    def produce() -> dict:
        row = _TABLES[table](code, on=on or date.today())
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(row).items()}
    return _answer("reference code", produce)


@reference.command("rate")
@click.argument("currency")
@click.option("--date", "on", type=DATE, help="a day of the month wanted (default today)")
def reference_rate(currency, on) -> int:
    """The customs monthly exchange rate (CNY per unit of CURRENCY, ISO 4217) as JSON."""
    return _answer("reference rate", lambda: customs_rate_record(currency, on=on or date.today()).as_json())


# ---- tax and fx ------------------------------------------------------------------------------------

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
    return _answer("tax quote", lambda: quotes.tax_quote(_load_order(order), on=on, annual_used=annual_used,
                                                         as_general_trade=regime == "general"),
                   bad=(TaxError, ReferenceDataError, NoRuleSet), refused=(cbec.CbecRefused,),
                   why=lambda exc: f"refused as CBEC ({exc.limit} limit): {exc}")


@fx_group.command("record")
@click.argument("order")
@click.option("--date", "on", type=DATE, help="declaration date (default: the order's date)")
def fx_record(order, on) -> int:
    """The BOP record of ORDER (a JSON file of any format) as JSON."""
    return _answer("fx record", lambda: fx.fx_record_for_order(_load_order(order), declared_on=on).as_json(),
                   bad=(fx.FxError, ReferenceDataError, NoRuleSet), refused=(fx.FxLimitExceeded,))


COMMANDS = (reference, tax, fx_group)
