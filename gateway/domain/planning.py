"""Planning: which filings an order needs, for which agency, in what order.

For the CBEC import regimes (1210 bonded, 9610 direct mail) customs needs four documents; the
inventory goes after its order, payment and waybill (customs matches them: 三单对碰).

``plan(order)`` gives the customs filings of a regime. ``plan_agencies(order, assessment)`` gives the
record filings of the other agencies from what ``gateway.domain.agencies.assess`` made of the order
(one entry, four agencies): an inspection record (CBEC orders with at least one line under legal
inspection; general trade carries its inspection data inside the DecMessage), a tax record
(``TaxRecord`` for a CBEC or general-trade import, ``RebateRecord`` for an export) when the tax
could be computed, and an FX record. The inspection and FX records go with the inventory or
declaration (CBEC 2, general trade 1): they never hold back customs' own documents; the tax record
comes one sequence after the document it taxes (CBEC 3, general trade 2). ``plan_all`` is both.
"""
from __future__ import annotations

from dataclasses import dataclass

from .cbec_export.order import ExportOrder
from .cbec_import.order import Order
from .general_trade.order import GtOrder


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


def plan_export(order: ExportOrder) -> tuple[PlannedFiling, ...]:
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


def plan(order: Order | ExportOrder | GtOrder) -> tuple[PlannedFiling, ...]:
    if order.direction == "import" and order.regime in ("1210", "9610"):
        return IMPORT_CBEC
    if isinstance(order, ExportOrder) and order.regime in ("9610", "1210", "1239"):
        return plan_export(order)
    if order.regime == "0110" and order.direction in ("import", "export"):
        return GENERAL_TRADE
    raise ValueError(f"no plan for regime {order.regime} {order.direction}")


# agency record filings: message type (the record's root element) -> agency
TAXED_DOCUMENTS = ("CEB621Message", "CEB603Message", "DecMessage")


def plan_agencies(order, assessment) -> tuple[PlannedFiling, ...]:
    """The inspection, tax and FX record filings of an assessed order (``agencies.Assessment``).

    Sequences: the inspection and FX records go with the document customs releases (the inventory,
    sequence 2, or the general-trade declaration, 1), so they never hold back customs' own documents;
    the tax record follows that document (it taxes it): a rejected inventory or record before it holds
    it back."""
    main = max(p.sequence for p in plan(order) if p.message_type in TAXED_DOCUMENTS)
    filings = []
    if assessment.inspection.inspected and order.regime != "0110":
        filings.append(PlannedFiling("InspectionRecord", "inspection", main))
    if assessment.tax_record_type is not None:
        filings.append(PlannedFiling(assessment.tax_record_type, "tax", main + 1))
    if assessment.fx is not None:
        filings.append(PlannedFiling("FxRecord", "fx", main))
    return tuple(filings)


def plan_all(order, assessment) -> tuple[PlannedFiling, ...]:
    return plan(order) + plan_agencies(order, assessment)
