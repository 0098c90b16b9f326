"""The service side of one entry, four agencies: what needs the database.

- The CBEC annual amount (``gateway.store.annual``): ``assess_batch`` reads each buyer's amount used
  this year, adds what earlier orders of the same batch count, and hands it to the pure
  ``domain.agencies.assess``; ``annual_unchanged`` re-reads it in the storing transaction (a
  concurrent submission for the same buyer in between means: assess again); ``annual_entry`` says what
  a new order counts, written for the whole batch in that same transaction (``annual.add_new``, one
  INSERT). Both reads are one query per batch (``annual.used_many``). On PostgreSQL the storing transaction takes a transaction-level
  advisory lock per buyer first, so two workers cannot both count the last few hundred CNY.
- The customs tax bill: a CEB816 names the inventory by its invtNo only, which customs assigned at
  120. ``tax_filing_for_bill`` follows the invtNo to the inventory through the CEB622 receipts already
  stored (their parsed fields carry it), then to the tax record of the same order, which the bill
  releases. The lookup reads the CEB622 receipt events (a ``LIKE`` on their JSON, then an exact check);
  an indexed alias table would be the next step if that ever shows up in a profile.
- ``agency_view``: what the order view adds for the agencies (inspection decision per line, the tax
  computed / withheld / difference, the tax bill customs issued and whether it matches, warnings).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.orm import defer

from gateway.declarations.agency_receipts import bill_amounts
from gateway.declarations.keys import TAX_BILL_PREFIX
from gateway.domain.agencies import Assessment, assess, is_cbec_import
from gateway.domain.common.dates import order_date
from gateway.domain.problems import OrderInvalid
from gateway.domain.tax.cbec import CbecQuote
from gateway.domain.tax.general import GeneralQuote
from gateway.domain.tax.rebate import RebateRecord
from gateway.store import annual
from gateway.store.models import Filing, ReceiptEvent

__all__ = ["AnnualReads", "agency_view", "annual_entry", "annual_unchanged", "assess_batch", "record_annual",
           "tax_filing_for_bill"]

ZERO = Decimal(0)


def _buyer(order) -> tuple[str, str, int]:
    """(id number, id type, year) the order's annual amount is counted under."""
    return order.buyer.id_number, order.buyer.id_type, order_date(order).year


@dataclass
class AnnualReads:
    """What ``assess_batch`` read from the ledger: (id number, id type, year) -> amount used."""

    used: dict[tuple[str, str, int], Decimal] = field(default_factory=dict)


def assess_batch(uow, orders: list, declared_on: date) -> tuple[list[Assessment | OrderInvalid], AnnualReads]:
    """The assessment of each order (or the OrderInvalid that refuses it), in batch order: a later
    order of the same buyer sees what the earlier ones count."""
    reads = AnnualReads()
    buyers = set()
    for order in orders:
        if is_cbec_import(order):
            try:
                buyers.add(_buyer(order))
            except (OrderInvalid, ValueError):
                continue       # assessed (and refused) below, one order at a time
    reads.used.update(annual.used_many(uow, buyers))     # one query for the whole batch
    counted: dict[tuple[str, str, int], Decimal] = {}
    results: list[Assessment | OrderInvalid] = []
    for order in orders:
        a: Assessment | OrderInvalid
        try:
            if is_cbec_import(order):
                buyer = _buyer(order)
                if buyer not in reads.used:
                    reads.used[buyer] = annual.used(uow, buyer[0], buyer[2], id_type=buyer[1])
                a = assess(order, declared_on=declared_on, annual_used=reads.used[buyer] + counted.get(buyer, ZERO))
                if a.annual_counted is not None:
                    counted[buyer] = counted.get(buyer, ZERO) + a.annual_counted
            else:
                a = assess(order, declared_on=declared_on)
        except OrderInvalid as exc:
            a = exc
        results.append(a)
    return results, reads


def _lock_buyers(uow, reads: AnnualReads) -> None:
    if uow.session.get_bind().dialect.name != "postgresql":
        return     # SQLite: every unit of work is BEGIN IMMEDIATE, writers are serialised already
    for number, id_type, year in sorted(reads.used):
        digest = hashlib.sha256(f"annual|{annual.buyer_key(number, id_type)}|{year}".encode()).digest()
        uow.session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                            {"k": int.from_bytes(digest[:8], "big", signed=True)})


def annual_unchanged(uow, reads: AnnualReads) -> bool:
    """In the storing transaction: lock the buyers (PostgreSQL) and check nobody counted anything for
    them since ``assess_batch`` read the ledger."""
    _lock_buyers(uow, reads)
    now = annual.used_many(uow, reads.used)
    return all(now[buyer] == value for buyer, value in reads.used.items())


def annual_entry(order, assessment: Assessment, order_id: str, tenant_id: str) -> annual.NewEntry | None:
    """What a new CBEC import order counts toward its buyer's annual amount (None: nothing). The
    service writes a batch's entries with ``annual.add_new`` in the transaction of its orders."""
    if not is_cbec_import(order) or assessment.annual_counted is None:
        return None
    number, id_type, year = _buyer(order)
    tax = assessment.tax
    ruleset = tax.ruleset.id if isinstance(tax, (CbecQuote, GeneralQuote, RebateRecord)) else ""
    return annual.NewEntry(number, id_type, year, assessment.annual_counted, order_id, tenant_id, ruleset)


def record_annual(uow, order, assessment: Assessment, order_id: str, tenant_id: str) -> None:
    """Count one CBEC import order toward its buyer's annual amount, in the order's transaction (a held
    order when the operator releases it; a batch writes its entries with ``annual.add_new``)."""
    entry = annual_entry(order, assessment, order_id, tenant_id)
    if entry is not None:
        annual.add_new(uow, [entry])


# -- the tax bill ------------------------------------------------------------------------------------

def tax_filing_for_bill(uow, entry) -> Filing | None:
    """The tax record a CEB816 / CEB818 entry (keyed ``tax-bill:<invtNo>``) belongs to, or None."""
    invt_no = entry.business_key[len(TAX_BILL_PREFIX):]
    if not invt_no:
        return None
    inventory_id = uow.session.scalar(       # an index lookup (receipt_events.invt_no, migration 0037)
        select(ReceiptEvent.filing_id)
        .where(ReceiptEvent.invt_no == invt_no, ReceiptEvent.message_type == "CEB622Message")
        .order_by(ReceiptEvent.id.desc()).limit(1))
    if inventory_id is None:
        return None
    inventory = uow.session.get(Filing, inventory_id)
    if inventory is None:
        return None
    return uow.session.scalars(
        select(Filing).options(defer(Filing.signed_bytes))
        .where(Filing.tenant_id == inventory.tenant_id, Filing.order_id == inventory.order_id,
               Filing.message_type == "TaxRecord")
        .order_by(Filing.created_at.desc(), Filing.id.desc()).limit(1)).first()


# -- the order view ----------------------------------------------------------------------------------

def agency_view(uow, normalized: dict, filings: list) -> dict:
    """Inspection, tax and FX as the order view shows them (from what the order stored when it was
    built, and the tax bill customs sent since)."""
    data = normalized.get("agencies")
    if not data:
        return {"inspection": None, "tax": None, "fx": None, "warnings": [], "holds": []}
    tax = dict(data["tax"]) if data.get("tax") else None
    if tax is not None and tax.get("kind") == "cbec-import":
        tax["bill"] = _tax_bill(uow, filings, tax)
    return {"inspection": data.get("inspection"), "tax": tax, "fx": data.get("fx"),
            "annual": data.get("annual"), "warnings": data.get("warnings", []), "holds": data.get("holds", [])}


def _tax_bill(uow, filings: list, tax: dict) -> dict | None:
    record = next((f for f in filings if f.message_type == "TaxRecord"), None)
    if record is None:
        return None
    event = uow.session.scalars(
        select(ReceiptEvent).where(ReceiptEvent.filing_id == record.id, ReceiptEvent.message_type == "CEB816Message")
        .order_by(ReceiptEvent.id.desc()).limit(1)).first()
    if event is None or not event.parsed:
        return None
    fields = json.loads(event.parsed)
    amounts = bill_amounts(fields)
    computed = {"duty": Decimal(tax["duty"]), "vat": Decimal(tax["vat"]),
                "consumption_tax": Decimal(tax["consumption_tax"]), "total": Decimal(tax["computed"])}
    return {"tax_no": fields.get("taxNo"), "invt_no": fields.get("invtNo"), "status": fields.get("status"),
            **{name: str(amounts[name]) for name in ("duty", "vat", "consumption_tax", "total")},
            "difference": str(amounts["total"] - computed["total"]),
            "matches": all(amounts[name] == computed[name] for name in computed)}
