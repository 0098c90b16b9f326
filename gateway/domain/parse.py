"""One entry point for every order format: ``parse_order(data)`` picks the format by ``regime`` (and
``direction``) and returns that format's typed order, or raises ``OrderInvalid`` with every problem.

| regime | direction | parser | model |
|---|---|---|---|
| "0110" | import / export | ``general_trade.intake.parse_gt_order`` | ``general_trade.order.GtOrder`` |
| anything else | "export" | ``cbec_export.intake.parse_export_order`` (its schema names the regimes: 9610, 1210, 1239) | ``cbec_export.order.ExportOrder`` |
| anything else | anything else | ``cbec_import.intake.parse_import_order`` (its schema names the regimes: 1210, 9610) | ``cbec_import.order.Order`` |

A new format adds one branch in ``parse_order``.
"""
from __future__ import annotations

from datetime import UTC, date, datetime

from . import date_window, text_rules
from .cbec_export.intake import parse_export_order
from .cbec_export.order import ExportOrder
from .cbec_import.intake import parse_import_order
from .cbec_import.order import Order
from .common.schema import order_object
from .date_window import DEFAULT_WINDOW, DateWindow
from .general_trade.intake import parse_gt_order
from .general_trade.order import GENERAL_TRADE, GtOrder
from .problems import OrderInvalid

AnyOrder = Order | ExportOrder | GtOrder


def parse_order(data, *, on: date | datetime | None = None, window: DateWindow = DEFAULT_WINDOW) -> AnyOrder:
    """Validate and convert one order of any format (a dict, or JSON text). ``on`` is the declaration
    date for code tables with effective dates (formats that have none ignore it). Before the format's
    own intake: the text rules (``text_rules``: XML characters, controls, blanks, duplicate keys) and
    the plausible window of the order's dates (``date_window``), over every string of any format."""
    data = order_object(data)
    text_rules.check(data)
    problems = date_window.problems(data, window, _as_datetime(on))
    if problems:
        raise OrderInvalid(problems)
    if data.get("regime") == GENERAL_TRADE:
        return parse_gt_order(data, on=on)
    if data.get("direction") == "export":
        return parse_export_order(data)
    return parse_import_order(data)


def _as_datetime(on: date | datetime | None) -> datetime:
    if isinstance(on, datetime):
        return on
    if isinstance(on, date):
        return datetime(on.year, on.month, on.day, tzinfo=UTC)
    return datetime.now(UTC)


def order_number(order: AnyOrder) -> tuple[str, str]:
    """(number space, number): what makes an order unique within a tenant, stored as the order's
    ``platform_code`` and ``order_no``. CBEC orders: (platform code, order no.). General trade:
    (declarant code, client reference) — ClientSeqNo is unique per declarant."""
    if isinstance(order, GtOrder):
        return order.declarant.code or order.declarant.scc or "", order.client_ref
    return order.platform.code, order.order_no
