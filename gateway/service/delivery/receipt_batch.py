"""What a batch of receipts (``ReceiptIngestor.ingest_many``) reads up front, so that applying them costs
no query per entry, and what it keeps in memory until it writes it (session.info, one transaction):

- BY_GUID: the filings the entries name by message id, sent on the batch's channel (one query);
- TAX_BILLS: for the tax bills (CEB816/818, keyed ``tax-bill:<invtNo>``): the inventory each invtNo
  names (the newest CEB622 entry stored, then this batch's own as they are applied), each candidate
  order's newest tax record and which of its filings went out on the channel (three queries);
- LAST_APPLIED: the status time last applied to each of those filings (one query), kept current as
  the batch applies receipts;
- PENDING_EVENTS: the batch's receipt entries, plain rows inserted together (``receipt_rows``) before
  anything reads them back (the orders' reasons when the batch ends).
The orders of all these filings are locked in one statement, in id order (state.py). ``match`` falls
back to its queries for what was not read up front (a filing found by business key only).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import load_only

from gateway.declarations.keys import TAX_BILL_PREFIX
from gateway.store.models import Filing, OutboxItem, ReceiptEvent

from ..channels import CUSTOMS

LAST_APPLIED = "receipts.last_applied"      # filing id -> status time last applied (this batch)
BY_GUID = "receipts.by_guid"                # message id -> filing sent on the batch's channel
PENDING_EVENTS = "receipts.pending_events"  # the batch's receipt entries not inserted yet
TAX_BILLS = "receipts.tax_bills"            # TaxBills
INVENTORY = "CEB622Message"                 # the receipt that gives an inventory its invtNo
TAX_RECORD = "TaxRecord"
CHUNK = 500                                 # SQLite's bound parameters


@dataclass
class TaxBills:
    """What the batch's tax bills are matched with (see the module's docstring)."""

    inventory: dict[str, str] = field(default_factory=dict)     # invtNo -> inventory filing id (stored)
    pending: dict[str, str] = field(default_factory=dict)       # invtNo -> inventory filing id (this batch)
    orders: dict[tuple[str, str], tuple[Filing | None, set[str], bool]] = field(default_factory=dict)
    held: list[Filing] = field(default_factory=list)            # strong references (weak identity map)


# What matching and applying a receipt read of a filing: the columns stored before its signed bytes. A
# filing's row is larger than a SQLite page; the columns after the bytes (created_at, updated_at, app_type,
# corrects_id ...) are read through the row's overflow pages, and the ORM builds each column it loads: the
# rest is loaded only if something asks (a reversal's corrects_id).
MATCHED_COLUMNS = load_only(Filing.id, Filing.tenant_id, Filing.order_id, Filing.message_type, Filing.agency,
                            Filing.guid, Filing.sequence, Filing.state, Filing.last_status_code)


def sent_on(channel: str):
    """Filings sent on ``channel`` (with the columns matching reads: ``MATCHED_COLUMNS``)."""
    return (select(Filing).options(MATCHED_COLUMNS)
            .join(OutboxItem, OutboxItem.filing_id == Filing.id).where(OutboxItem.adapter == channel))


# The filings of some message ids with the channel of their outbox row (None: never sent): by the unique
# index on guid, the channel read per filing found. As ``sent_on(channel)`` (a join) PostgreSQL without
# statistics walked the channel's whole outbox and probed each filing instead (docs/performance.md
# "Session 7: the claim's plan on PostgreSQL").
_BY_GUID = select(Filing, select(OutboxItem.adapter).where(OutboxItem.filing_id == Filing.id)
                  .scalar_subquery()).options(MATCHED_COLUMNS)


def _chunks(values):
    ordered = sorted(values)
    return (ordered[i:i + CHUNK] for i in range(0, len(ordered), CHUNK))


def prefetch(uow, keeper, channel: str, entries) -> None:
    """Read what the batch's ``entries`` (read receipt entries, in order) need; lock their orders."""
    info = uow.session.info
    guids = {e.guid for e in entries if e.guid} | {e.business_key.split(":", 1)[1] for e in entries
                                                   if e.business_key.startswith("message:")}
    found: dict[str, Filing] = {}
    for chunk in _chunks(guids):
        for f, adapter in uow.session.execute(_BY_GUID.where(Filing.guid.in_(chunk))):
            if adapter == channel:
                found[f.guid] = f
    info[BY_GUID] = found
    tax = info[TAX_BILLS] = _tax_bills(uow, channel, entries, found.values())
    records = [f for f, _, _ in tax.orders.values() if f is not None]
    keeper.lock_orders(uow, {(f.tenant_id, f.order_id) for f in [*found.values(), *records]})
    keeper.fresh_many(uow, [*found.values(), *records])     # their states as they are under the locks
    last = info.setdefault(LAST_APPLIED, {})
    for chunk in _chunks({f.id for f in [*found.values(), *records]}):
        last.update((i, None) for i in chunk)
        last.update(uow.session.execute(
            select(ReceiptEvent.filing_id, ReceiptEvent.status_time)
            .where(ReceiptEvent.filing_id.in_(chunk), ReceiptEvent.outcome == "applied")
            .order_by(ReceiptEvent.id)).all())        # the newest last: it wins


def _tax_bills(uow, channel: str, entries, named) -> TaxBills:
    """The inventories the batch's tax bills name (stored so far), and for every order that may hold
    the tax record one of them answers (the orders of those inventories and of the filings the batch
    names by message id: an inventory numbered in this batch), its newest tax record and its filings
    sent on ``channel``."""
    tax = TaxBills()
    invts = {e.business_key[len(TAX_BILL_PREFIX):] for e in entries if e.business_key.startswith(TAX_BILL_PREFIX)}
    invts.discard("")
    if not invts:
        return tax
    for chunk in _chunks(invts):
        tax.inventory.update(uow.session.execute(       # an index lookup (receipt_events.invt_no)
            select(ReceiptEvent.invt_no, ReceiptEvent.filing_id)
            .where(ReceiptEvent.invt_no.in_(chunk), ReceiptEvent.message_type == INVENTORY)
            .order_by(ReceiptEvent.id)).all())        # the newest last: it wins
    inventories = list(named)
    for chunk in _chunks(set(tax.inventory.values())):
        tax.held += uow.session.scalars(select(Filing).options(MATCHED_COLUMNS).where(Filing.id.in_(chunk)))
    orders = {(f.tenant_id, f.order_id) for f in [*inventories, *tax.held]}
    for chunk in _chunks({o for _, o in orders}):
        for f in uow.session.scalars(select(Filing).options(MATCHED_COLUMNS)
                                     .where(Filing.order_id.in_(chunk), Filing.message_type == TAX_RECORD)
                                     .order_by(Filing.created_at.desc(), Filing.id.desc())):
            key = (f.tenant_id, f.order_id)
            if key in orders and key not in tax.orders:      # the newest first
                tax.orders[key] = (f, set(), False)
                tax.held.append(f)
        for f_id, tenant_id, order_id, agency in uow.session.execute(
                select(Filing.id, Filing.tenant_id, Filing.order_id, Filing.agency)
                .join(OutboxItem, OutboxItem.filing_id == Filing.id)
                .where(OutboxItem.adapter == channel, Filing.order_id.in_(chunk))):
            key = (tenant_id, order_id)
            if key in tax.orders:
                record, sent, customs = tax.orders[key]
                sent.add(f_id)
                tax.orders[key] = (record, sent, customs or agency == CUSTOMS)
    for key in orders:
        tax.orders.setdefault(key, (None, set(), False))      # read: no tax record
    return tax


def add_event(uow, row: dict) -> bool:
    """Keep a receipt entry's row for the batch's one INSERT; False outside a batch (the caller adds
    it to the session)."""
    pending = uow.session.info.get(PENDING_EVENTS)
    if pending is None:
        return False
    pending.append(row)
    tax = uow.session.info.get(TAX_BILLS)
    if tax is not None and row["message_type"] == INVENTORY and row["invt_no"]:
        tax.pending[row["invt_no"]] = row["filing_id"]
    return True


def tax_record(uow, entry) -> tuple[bool, Filing | None]:
    """(known, the tax record) a tax bill ``entry`` answers, from what the batch read up front;
    known is False when it was not read (the caller looks it up)."""
    tax = uow.session.info.get(TAX_BILLS)
    invt_no = entry.business_key[len(TAX_BILL_PREFIX):]
    if tax is None or not invt_no:
        return tax is not None, None
    inventory_id = tax.pending.get(invt_no, tax.inventory.get(invt_no))
    if inventory_id is None:
        return True, None
    inventory = uow.session.get(Filing, inventory_id)
    if inventory is None:
        return True, None
    known = tax.orders.get((inventory.tenant_id, inventory.order_id))
    if known is None:
        return False, None
    record, sent, customs = known
    # customs sends it about the inventory: it comes in on the customs channel of the order, while the
    # tax record itself may go out on the tax agency's channel, or on none (gateway/service/channels.py)
    return True, (record if record is not None and (record.id in sent or customs) else None)
