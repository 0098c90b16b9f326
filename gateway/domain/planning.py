"""Planning: which filings an order needs, for which agency, in what order.

For the CBEC import regimes (1210 bonded, 9610 direct mail) customs needs four documents; the
inventory goes after its order, payment and waybill (customs matches them: 三单对碰). Inspection,
FX and tax submissions for these regimes are not planned yet (see docs/status.md).
"""
from __future__ import annotations

from dataclasses import dataclass

from .order import Order


@dataclass(frozen=True)
class PlannedFiling:
    message_type: str
    agency: str
    sequence: int          # send order: every filing of a lower sequence goes first


IMPORT_CBEC = (
    PlannedFiling("CEB311Message", "customs", 1),
    PlannedFiling("CEB411Message", "customs", 1),
    PlannedFiling("CEB511Message", "customs", 1),
    PlannedFiling("CEB621Message", "customs", 2),
)

# General trade (0110), import or export: one customs declaration. Since 2018 the inspection data
# travels inside it (关检融合) and customs answers with one CHANNEL stream and one release, so there
# is no separate inspection filing (general-trade-inspection-fx-tax.md §2.1).
GENERAL_TRADE = (
    PlannedFiling("DecMessage", "customs", 1),
)


# CBEC export (9610 general export, 1210/1239 special-zone export), docs/export.md: order, receipt of
# payment and waybill first, then the inventory customs matches them against (三单对碰).
EXPORT_CBEC = (
    PlannedFiling("CEB303Message", "customs", 1),
    PlannedFiling("CEB403Message", "customs", 1),
    PlannedFiling("CEB505Message", "customs", 1),
    PlannedFiling("CEB603Message", "customs", 2),
)


def plan_export(order) -> tuple[PlannedFiling, ...]:
    """The export filings of an ``ExportOrder``. Besides the four documents every export needs:
    CEB607 bill list and CEB507 arrival (sequence 3) when the order asks for the bill list or carries
    the arrival at the supervised site, the CEB701 summary application (sequence 3) for
    statisticsFlag B (A, simplified, needs no summary), and CEB509 departure (sequence 4) when the
    order carries the departure. 607/507/509 report later events; they are planned only when the
    order carries their data, otherwise they are filed later or by the carrier / site operator."""
    filings = list(EXPORT_CBEC)
    if order.bill_list:
        filings.append(PlannedFiling("CEB607Message", "customs", 3))
    if order.arrival is not None:
        filings.append(PlannedFiling("CEB507Message", "customs", 3))
    if order.needs_summary:
        filings.append(PlannedFiling("CEB701Message", "customs", 3))
    if order.departure is not None:
        filings.append(PlannedFiling("CEB509Message", "customs", 4))
    return tuple(filings)


def plan(order: Order) -> tuple[PlannedFiling, ...]:
    if order.direction == "import" and order.regime in ("1210", "9610"):
        return IMPORT_CBEC
    if order.direction == "export" and order.regime in ("9610", "1210", "1239"):
        return plan_export(order)
    if order.regime == "0110" and order.direction in ("import", "export"):
        return GENERAL_TRADE
    raise ValueError(f"no plan for regime {order.regime} {order.direction}")
