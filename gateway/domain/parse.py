"""One entry point for every order format: ``parse_any(data)`` picks the parser by ``regime``
(and ``direction``) and returns that format's typed order, or raises ``OrderInvalid``.

| regime | direction | parser | model |
|---|---|---|---|
| "0110" | import / export | ``gt_intake.parse_gt_order`` | ``gt_order.GtOrder`` |
| anything else | import | ``intake.parse_order`` (its schema names the regimes it accepts) | ``order.Order`` |
| "9610", "1210", "1239" | export | ``intake.parse_order`` hands it to ``export_intake.parse_export_order`` | ``export_order.ExportOrder`` |

A new format adds one branch in ``_parser_for``.
"""
from __future__ import annotations

from datetime import date, datetime

from .gt_intake import parse_gt_order
from .gt_order import GENERAL_TRADE
from .intake import loads, parse_order
from .problems import OrderInvalid, Problem


def _parser_for(data: dict):
    if data.get("regime") == GENERAL_TRADE:
        return lambda d, on: parse_gt_order(d, on=on)
    return lambda d, on: parse_order(d)


def parse_any(data, *, on: date | datetime | None = None):
    """Validate and convert one order of any format (a dict, or JSON text). ``on`` is the declaration
    date for code tables with effective dates (formats that have none ignore it)."""
    if isinstance(data, (str, bytes)):
        data = loads(data)
    if not isinstance(data, dict):
        raise OrderInvalid([Problem("$", "schema:type", "an order is a JSON object")])
    return _parser_for(data)(data, on)


def order_number(order) -> tuple[str, str]:
    """(number space, number): what makes an order unique within a tenant, stored as the order's
    ``platform_code`` and ``order_no``. CBEC orders: (platform code, order no.). General trade:
    (declarant code, client reference) — ClientSeqNo is unique per declarant."""
    if getattr(order, "regime", None) == GENERAL_TRADE:
        return order.declarant.code or order.declarant.scc or "", order.client_ref
    return order.platform.code, order.order_no
