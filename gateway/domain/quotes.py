"""The tax of one order of any format (pure): what ``gateway tax quote`` prints and what the agencies'
assessment (``agencies.assess``) files as the tax record.

| order | tax |
|---|---|
| CBEC import (1210, 9610) | ``tax.cbec.quote``: the CBEC comprehensive tax (or, ``as_general_trade``, the same goods taxed as general trade) |
| general-trade import (0110) | ``general_import_quote``: duty, consumption tax and import VAT at the declaration date |
| CBEC export 9610, general-trade export | ``export_rebate``: the export VAT rebate / exemption data |
| CBEC export 1210 / 1239 (special zone) | none: ``NotTaxed`` (the goods left China's tax territory when they entered the zone) |

``tax_quote`` raises a ``TaxError`` (``CbecRefused`` for a CBEC limit, ``NotTaxed`` when the format has no
tax) or a reference-data error with a message; never anything else for an order that passed intake.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from gateway.reference import codes

from .cbec_export.order import ExportOrder
from .cbec_import.order import Order
from .common.dates import NoOrderDate, order_date, today_in_china
from .common.lines import lines_total
from .common.money import round_fen
from .general_trade.order import Charge, GtOrder
from .problems import Problem
from .tax import cbec, general, rebate
from .tax.common import TaxError

__all__ = ["NotTaxed", "export_rebate", "general_import_quote", "tax_quote"]

ZERO = Decimal(0)


class NotTaxed(TaxError):
    """The order's format has no tax to quote (a special-zone export)."""


def _charge_amount(charge: Charge | None, order: GtOrder, goods: Decimal, freight: Decimal, what: str,
                   warnings: list[Problem]) -> Decimal | None:
    """A general-trade freight / insurance charge in the order's currency (None when it cannot be had)."""
    if charge is None:
        return None
    if charge.mark == "rate":
        base = goods if what == "freight" else goods + freight
        return round_fen(base * charge.value / 100)
    if charge.currency and charge.currency != order.currency:
        raise TaxError(f"{what} is in {charge.currency}, the goods in {order.currency}")
    if charge.mark == "total":
        return charge.value
    if what == "freight":    # per unit: per tonne of gross weight [U]
        warnings.append(Problem("$.freight", "tax-not-computed",
                                "freight per unit taken as per tonne of gross weight [U]"))
        return round_fen(charge.value * order.gross_weight / 1000)
    raise TaxError("insurance per unit cannot be converted to an amount")


def general_import_quote(order: GtOrder, declared_on: date, warnings: list[Problem]) -> general.GeneralQuote:
    """Duty, consumption tax and import VAT of a general-trade import; what was assumed goes to ``warnings``."""
    currencies = {line.currency for line in order.lines}
    if currencies != {order.currency}:
        raise TaxError(f"lines in several currencies ({', '.join(sorted(currencies))})")
    items = [general.GoodsItem(ln.number, ln.hs_code, ln.total_price, ln.legal_quantity, ln.legal_unit,
                               ln.second_quantity, ln.second_unit) for ln in order.lines]
    goods = lines_total(order.lines)
    freight = _charge_amount(order.freight, order, goods, ZERO, "freight", warnings)
    insurance = _charge_amount(order.insurance, order, goods, freight or ZERO, "insurance", warnings)
    terms = order.terms
    if terms == "C&I":           # cost and insurance: the price includes insurance, not freight
        terms, insurance = "FOB", ZERO
    elif terms == "EXW":         # inland costs unknown: valued as FOB [U]
        terms = "FOB"
        warnings.append(Problem("$.terms", "tax-not-computed",
                                "EXW values taken as FOB for the tax (inland costs to the port are not known) [U]"))
    if terms == "CIF":
        freight, insurance = ZERO, ZERO
    elif terms == "CFR":
        freight = ZERO
    return general.quote_import(items, declared_on=declared_on, currency=order.currency, terms=terms,
                                freight=freight or ZERO, insurance=insurance)


def export_rebate(order: ExportOrder | GtOrder, declared_on: date, warnings: list[Problem]) -> rebate.RebateRecord:
    """The export rebate / exemption data of a CBEC 9610 or general-trade export. Raises NotTaxed for a
    special-zone export (1210/1239)."""
    if isinstance(order, GtOrder):
        if order.terms not in ("FOB", "EXW"):
            warnings.append(Problem("$.terms", "rebate-terms",
                                    f"terms {order.terms}: the line values are taken as the FOB value of the rebate data"))
        number, exported, currency, collected = order.client_ref, order.ie_date, order.currency, None
    else:
        if order.regime not in rebate.EXPORT_REGIMES:
            raise NotTaxed(f"regime {order.regime} is a special-zone export: the goods left China's tax territory "
                           "when they entered the zone; there is no rebate data to file")
        # a CBEC export order carries its receipt of payment
        number, exported, collected = order.order_no, order.export_date, True
        currency = codes.currency_iso(order.currency, on=declared_on)
    items = tuple(rebate.ExportItem(ln.number, ln.hs_code, ln.name, ln.legal_unit, ln.legal_quantity,
                                    ln.total_price) for ln in order.lines)
    decl = rebate.ExportDeclaration(regime=order.regime, declaration_no=number,
                                    export_date=exported or declared_on, currency=currency,
                                    exporter_kind="trading", items=items, fx_collected=collected)
    return rebate.rebate_record(decl)


def _default_day(order) -> date:
    try:
        return order_date(order)
    except NoOrderDate:
        return today_in_china()


def tax_quote(order: Order | ExportOrder | GtOrder, *, on: date | None = None, annual_used: Decimal = ZERO,
              as_general_trade: bool = False) -> dict:
    """The tax of one order of any format as JSON (money as strings), assessed on ``on`` (default: the
    order's date, else today in China). ``as_general_trade``: a CBEC import's goods taxed as general trade
    (CNY, the line totals plus freight and insurance). Warnings on what was assumed are listed."""
    warnings: list[Problem] = []
    q: cbec.CbecQuote | general.GeneralQuote | rebate.RebateRecord
    if isinstance(order, Order):
        if as_general_trade:
            q = general.quote_import(general.items_of_order(order), declared_on=on or order_date(order),
                                     currency="CNY", terms="FOB", freight=order.logistics.freight,
                                     insurance=order.logistics.insurance)
        else:
            q = cbec.quote(order, annual_used=annual_used, on=on)
    elif isinstance(order, GtOrder) and order.is_import:
        q = general_import_quote(order, on or _default_day(order), warnings)
    else:
        q = export_rebate(order, on or _default_day(order), warnings)
    data = q.as_json()
    data["order_no"] = order.order_no
    if warnings:
        data["warnings"] = [w.as_dict() for w in warnings]
    return data
