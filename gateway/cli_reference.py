"""Command line for reference data, taxes and FX (registered by ``gateway.cli.build_parser``):

    gateway reference hs CODE [--date D]                       one HS line as JSON
    gateway reference code TABLE CODE [--date D]               a code-table row (currencies, countries, units, ...)
    gateway reference rate CURRENCY [--date D]                 the customs monthly rate
    gateway tax quote ORDER.json [--date D] [--annual-used A] [--regime cbec|general]
    gateway fx record ORDER.json [--date D]

Output is JSON on stdout (money as strings). Exit 0 on success, 1 when the order is refused
(CBEC limit, FX limit), 2 for bad input (unreadable file, invalid order, unknown code or date).
"""
from __future__ import annotations

import json
import sys
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        import argparse

        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _amount(text: str) -> Decimal:
    import argparse

    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal amount") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a non-negative amount")
    return value


def _print(data) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _fail(code: int, message: str) -> int:
    print(message, file=sys.stderr)
    return code


# ---- reference -----------------------------------------------------------------------------------

def cmd_reference_hs(args) -> int:
    from gateway.reference import ReferenceDataError
    from gateway.reference.hs import hs_line

    try:
        line = hs_line(args.code, on=args.date or date.today())
    except ReferenceDataError as exc:
        return _fail(2, f"gateway reference hs: {exc}")
    _print(line.as_json())
    return 0


def cmd_reference_code(args) -> int:
    from dataclasses import asdict

    from gateway.reference import ReferenceDataError, codes

    lookup = {"currencies": codes.currency, "countries": codes.country, "units": codes.unit,
              "trade_modes": codes.trade_mode, "transport_modes": codes.transport_mode,
              "customs_offices": codes.customs_office, "ports": codes.port}[args.table]
    try:
        row = lookup(args.code, on=args.date or date.today())
    except ReferenceDataError as exc:
        return _fail(2, f"gateway reference code: {exc}")
    _print({k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(row).items()})
    return 0


def cmd_reference_rate(args) -> int:
    from gateway.reference import ReferenceDataError
    from gateway.reference.rates import customs_rate_record

    try:
        _print(customs_rate_record(args.currency, on=args.date or date.today()).as_json())
    except ReferenceDataError as exc:
        return _fail(2, f"gateway reference rate: {exc}")
    return 0


# ---- tax and fx ------------------------------------------------------------------------------------

def _load_order(path: str, prog: str):
    from gateway.domain.parse import parse_order
    from gateway.domain.problems import OrderInvalid

    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise SystemExit(_fail(2, f"{prog}: cannot read {path}: {exc.strerror}"))
    try:
        return parse_order(text)
    except OrderInvalid as exc:
        lines = "\n".join(f"  {p.path}: [{p.rule}] {p.message}" for p in exc.problems)
        raise SystemExit(_fail(2, f"{prog}: {path} is not a valid order ({len(exc.problems)} problems):\n{lines}"))


def cmd_tax_quote(args) -> int:
    from gateway.domain.common.dates import order_date
    from gateway.domain.tax import TaxError, cbec, general
    from gateway.domain.tax.rulesets import NoRuleSet
    from gateway.reference import ReferenceDataError

    prog = "gateway tax quote"
    order = _load_order(args.order, prog)
    on = args.date or order_date(order)
    try:
        if args.regime == "general":
            q = general.quote_import(general.items_of_order(order), declared_on=on, currency="CNY", terms="FOB",
                                     freight=order.logistics.freight, insurance=order.logistics.insurance)
            data = q.as_json()
            data["order_no"] = order.order_no
        else:
            data = cbec.quote(order, annual_used=args.annual_used, on=on).as_json()
    except cbec.CbecRefused as exc:
        return _fail(1, f"{prog}: refused as CBEC ({exc.limit} limit): {exc}")
    except (TaxError, ReferenceDataError, NoRuleSet) as exc:
        return _fail(2, f"{prog}: {exc}")
    _print(data)
    return 0


def cmd_fx_record(args) -> int:
    from gateway.domain import fx
    from gateway.domain.tax.rulesets import NoRuleSet
    from gateway.reference import ReferenceDataError

    prog = "gateway fx record"
    order = _load_order(args.order, prog)
    try:
        record = fx.fx_record_for_order(order, declared_on=args.date)
    except fx.FxLimitExceeded as exc:
        return _fail(1, f"{prog}: {exc}")
    except (fx.FxError, ReferenceDataError, NoRuleSet) as exc:
        return _fail(2, f"{prog}: {exc}")
    _print(record.as_json())
    return 0


def register(sub) -> None:
    """Add the ``reference``, ``tax`` and ``fx`` commands to the gateway's subparsers."""
    r = sub.add_parser("reference", help="reference data: HS lines, code tables, customs exchange rates")
    rsub = r.add_subparsers(dest="reference_command", required=True)
    h = rsub.add_parser("hs", help="one HS line (rates, units, controls) as JSON")
    h.add_argument("code", help="10-digit commodity code")
    h.add_argument("--date", type=_date, help="as of this date (default today)")
    h.set_defaults(func=cmd_reference_hs)
    c = rsub.add_parser("code", help="one row of a code table as JSON")
    c.add_argument("table", choices=["currencies", "countries", "units", "trade_modes", "transport_modes",
                                     "customs_offices", "ports"])
    c.add_argument("code")
    c.add_argument("--date", type=_date, help="as of this date (default today)")
    c.set_defaults(func=cmd_reference_code)
    rr = rsub.add_parser("rate", help="the customs monthly exchange rate (CNY per unit) as JSON")
    rr.add_argument("currency", help="ISO 4217 letters, e.g. USD")
    rr.add_argument("--date", type=_date, help="a day of the month wanted (default today)")
    rr.set_defaults(func=cmd_reference_rate)

    t = sub.add_parser("tax", help="taxes of an order")
    tsub = t.add_subparsers(dest="tax_command", required=True)
    q = tsub.add_parser("quote", help="every tax per line and in total, with rates, rule set and exchange rate")
    q.add_argument("order", help="an import order JSON file (docs/order-format.md)")
    q.add_argument("--date", type=_date, help="assess as of this date (default: the order's date)")
    q.add_argument("--annual-used", type=_amount, default=Decimal(0),
                   help="CNY the buyer already used of the annual CBEC limit this year (default 0)")
    q.add_argument("--regime", choices=["cbec", "general"], default="cbec",
                   help="cbec: retail import comprehensive tax (default); general: the same goods as general trade")
    q.set_defaults(func=cmd_tax_quote)

    f = sub.add_parser("fx", help="FX / balance-of-payments record of an order")
    fsub = f.add_subparsers(dest="fx_command", required=True)
    fr = fsub.add_parser("record", help="the BOP record of an order as JSON")
    fr.add_argument("order", help="an import order JSON file")
    fr.add_argument("--date", type=_date, help="declaration date (default: the order's date)")
    fr.set_defaults(func=cmd_fx_record)
