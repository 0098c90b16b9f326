"""Receipts: stored raw first, then applied only if they move the filing forward.

- Raw first: every receipt is appended to ``receipts`` exactly as received (deduplicated by sha256)
  before anything reads it.
- Forward only (``should_apply``): a receipt applies when its state ranks higher than the filing's;
  at equal rank when its returnTime is newer than that of the status the filing shows and the code
  differs (300 → 500 查验 ...): the newest status code is kept. Rejected and returned are final.
  Out-of-order, repeated and stale receipts are recorded (``receipt_events`` outcome "ignored") and
  change nothing.
- Quarantine: a receipt that cannot be read is kept with outcome "quarantined" and the reason, one
  whose entries match no filing with outcome "unmatched"; neither blocks the receipts behind it.
  Both are listed by ``quarantine`` (API ``GET /v1/receipts/quarantine``, CLI
  ``gateway receipts quarantine``).
- CEB900 (format check failed at the e-port) is a blocking error: the filing is rejected with the
  code and reason it gives.
- One tenant per receipt (``match``): a receipt is matched only among the filings sent on the
  channel it came in on (the outbox row records the channel; the tenants of a channel share its
  sender identity; an agency's records are sent on that agency's channel, so its receipts come
  back there; a customs tax bill lands on the order's tax record when the order's customs filings
  went out on its channel); first by the message it answers (its guid, or the oriCopMsgId / messageId
  it names), then by business key. A business key that names filings of two tenants on that
  channel is never guessed: the receipt is quarantined with the reason ``ambiguous``.
"""
from __future__ import annotations

import json
import logging

from sqlalchemy import or_, select, text
from sqlalchemy.exc import IntegrityError

from gateway.declarations.receipts import ReceiptUnreadable, parse_receipt
from gateway.domain import status as st
from gateway.service import listing
from gateway.service.listing import Page
from gateway.store import receipt_rows
from gateway.store.models import Filing, Receipt, ReceiptEvent
from gateway.store.receipt_rows import StoredReceipt

from ..channels import CUSTOMS
from . import receipt_batch
from .receipt_batch import BY_GUID, LAST_APPLIED, PENDING_EVENTS, sent_on
from .receipt_trust import ChannelTrust, ReceiptRefused, ReceiptTrust
from .state import StateKeeper

log = logging.getLogger("gateway.receipts")

QUARANTINE_OUTCOMES = ("quarantined", "unmatched")
_FIELDS_JSON = json.JSONEncoder(ensure_ascii=False).encode    # json.dumps(..., ensure_ascii=False), built once


def should_apply(current_state: str, current_time: str | None, current_code: str | None,
                 new_state: str, new_time: str, new_code: str) -> bool:
    """Rank first; at equal rank the newer returnTime with a different code wins."""
    if current_state in (st.REJECTED, st.RETURNED):
        return False
    if st.RANK[new_state] != st.RANK[current_state]:
        return st.RANK[new_state] > st.RANK[current_state]
    return bool(new_time) and new_time > (current_time or "") and new_code != (current_code or "")


class ReceiptIngestor:
    def __init__(self, uow_factory, clock, keeper: StateKeeper, trust: ReceiptTrust | ChannelTrust | None = None):
        self.uow_factory = uow_factory
        self.clock = clock
        self.keeper = keeper
        self.trust = trust or ReceiptTrust()

    def poll(self, name: str, adapter, result, batch_size: int = 200) -> None:
        key = f"receipts:{name}"
        with self.uow_factory() as uow:
            cursor = uow.cursors.get(key)
        try:
            raws = adapter.fetch_receipts(cursor)
        except Exception as exc:  # the government side is down: try again next round
            log.warning("fetching receipts from %s failed: %s: %s", name, type(exc).__name__, exc)
            result.poll_errors += 1
            return
        done = []
        for start in range(0, len(raws), batch_size):
            if not self.ingest_many(name, raws[start:start + batch_size], result):
                break             # another poller is storing this channel's receipts: they are its
            done += raws[start:start + batch_size]
        if done:
            last = max(r.cursor for r in done)
            with self.uow_factory() as uow:
                current = uow.cursors.get(key)
                if current is None or last > current:   # never move back (several pollers)
                    uow.cursors.set(key, last)
                uow.commit()

    def ingest_many(self, adapter: str, raws, result) -> bool:
        """Store and apply a batch of raw receipts in ONE transaction (one commit, one audit-chain
        append, each order's combined status recomputed once, each order locked once), in order, as
        one by one would, with a number of statements that does not grow with the batch: what it
        needs read up front (receipt_batch.py), the raw receipts, their entries and outcomes, the
        filings' and orders' new states and the audit records each written in one statement or
        executemany (receipt_rows.py, StateKeeper.batched(write_later=True), store/bulk.py). If
        another poller stored one of them at the same moment, the batch is redone receipt by
        receipt. PostgreSQL: one poller per channel at a time (an advisory lock); False, with
        nothing done, when another one holds it."""
        trial = type(result)()
        try:
            with self.uow_factory() as uow:
                if uow.session.get_bind().dialect.name == "postgresql" and not uow.session.scalar(
                        text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"), {"key": f"receipts:{adapter}"}):
                    return False
                stored = uow.receipts.add_raw_many(adapter, [(r.body, r.cursor, r.received_at) for r in raws])
                trial.duplicates += len(raws) - len(stored)
                # no flush before every query of the batch (one flush per SELECT was most of the cost);
                # what the queries would have missed is kept in memory (LAST_APPLIED) or flushed on purpose
                # (a tax bill's CEB622, the orders' reasons at the end of the batch)
                uow.session.info[LAST_APPLIED] = {}
                # the receipt entries are plain rows, inserted together (receipt_rows.insert_events) before
                # anything reads them: the orders' reasons at the end, a tax bill's inventory (``match``)
                pending: list[dict] = []
                uow.session.info[PENDING_EVENTS] = pending
                with self.keeper.batched(uow, write_later=True), uow.session.no_autoflush:
                    read = [(raw, body, self._read(adapter, body)) for raw, body in stored]
                    receipt_batch.prefetch(uow, self.keeper, adapter, [e for _, _, entries in read
                                                                       if isinstance(entries, list) for e in entries])
                    for raw, body, entries in read:
                        self._apply(uow, adapter, raw, body, trial, entries)
                    receipt_rows.insert_events(uow.session, pending)
                    receipt_rows.write_outcomes(uow.session, [raw for raw, _ in stored])
                uow.commit()
        except IntegrityError:
            for r in raws:
                self.ingest(adapter, r.body, r.cursor, r.received_at, result)
            return True
        _merge(result, trial)
        return True

    def ingest(self, adapter: str, body: bytes, cursor: str, received_at, result) -> None:
        """Store one raw receipt, then apply what it says, in its own transaction."""
        with self.uow_factory() as uow:
            raw = uow.receipts.add_raw(adapter=adapter, cursor=cursor, raw=body, received_at=received_at)
            if raw is None:      # seen before: duplicates are normal
                result.duplicates += 1
                return
            self._apply(uow, adapter, raw, body, result)
            uow.commit()

    def _read(self, adapter: str, body: bytes):
        """The receipt's entries, or why it cannot be read (ReceiptUnreadable / ReceiptRefused)."""
        try:
            return parse_receipt(self.trust.for_channel(adapter).trusted_bytes(body))
        except (ReceiptUnreadable, ReceiptRefused) as exc:
            return exc

    def _apply(self, uow, adapter: str, raw: Receipt | StoredReceipt, body: bytes, result, entries=None) -> None:
        """Apply what a stored receipt says (``entries``: read already, or why not), in the caller's
        transaction."""
        result.receipts += 1
        if entries is None:
            entries = self._read(adapter, body)
        if isinstance(entries, Exception):
            exc = entries
            raw.outcome, raw.info = "quarantined", str(exc)[:4000]
            uow.audit.record(None, "receipt", str(raw.id), "receipt.quarantined", {"reason": str(exc)})
            result.quarantined += 1
            log.warning("receipt %s from %s quarantined: %s", raw.id, adapter, exc)
            return
        outcomes, unmatched, matched, ambiguous = [], [], [], []
        for entry in entries:
            try:
                filing = match(uow, entry, adapter)
            except Ambiguous as exc:
                ambiguous.append(str(exc))
                continue
            if filing is None:
                outcomes.append("unmatched")
                unmatched.append(entry.business_key)
                continue
            self.keeper.fresh(uow, filing)
            matched.append(filing)
            new_state = (st.REJECTED if entry.message_type == "CEB900Message"
                         else st.state_for(entry.message_type, entry.status_code))
            applied_now = uow.session.info.get(LAST_APPLIED)      # this batch's, not flushed yet
            if applied_now is not None and filing.id in applied_now:
                last_time = applied_now[filing.id]
            else:
                last_time = uow.session.scalar(
                    select(ReceiptEvent.status_time)
                    .where(ReceiptEvent.filing_id == filing.id, ReceiptEvent.outcome == "applied")
                    .order_by(ReceiptEvent.id.desc()).limit(1))
            apply = should_apply(filing.state, last_time, filing.last_status_code, new_state,
                                 entry.status_time, entry.status_code)
            outcome = "applied" if apply else "ignored"
            row = {"receipt_id": raw.id, "tenant_id": filing.tenant_id, "filing_id": filing.id,
                   "message_type": entry.message_type, "status_code": entry.status_code,
                   "status_time": entry.status_time, "info": entry.info,
                   "parsed": _FIELDS_JSON(entry.fields), "invt_no": _invt_no(entry),
                   "outcome": outcome, "at": self.clock.now()}
            if not receipt_batch.add_event(uow, row):     # a batch's are inserted together
                uow.session.add(ReceiptEvent(**row))     # before the state change: the order's reason reads it
            if apply:
                if applied_now is not None:
                    applied_now[filing.id] = entry.status_time
                self.keeper.set_state(uow, filing, new_state, entry.status_code, entry.info, result)
                result.applied += 1
            outcomes.append(outcome)
        if matched:      # set once, after the queries above (each change would be flushed before them)
            raw.tenant_id = matched[0].tenant_id
            raw.filing_id = matched[0].id if len(entries) == 1 else None
        raw.message_type = entries[0].message_type
        if len(entries) == 1:
            raw.status_code, raw.status_time = entries[0].status_code, entries[0].status_time or None
        raw.outcome = "applied" if "applied" in outcomes else ("ignored" if "ignored" in outcomes else "unmatched")
        if ambiguous:      # never a guess: the operator decides (the other entries were applied)
            raw.outcome, raw.info = "quarantined", f"ambiguous: {'; '.join(ambiguous)}"[:4000]
            uow.audit.record(None, "receipt", str(raw.id), "receipt.quarantined", {"reason": raw.info})
            result.quarantined += 1
            log.warning("receipt %s from %s quarantined: %s", raw.id, adapter, raw.info)
        elif raw.outcome == "unmatched":
            raw.info = f"no filing matches {', '.join(unmatched)}"[:4000]
            uow.audit.record(None, "receipt", str(raw.id), "receipt.unmatched", {"keys": unmatched})
            result.unmatched += 1





def _invt_no(entry) -> str | None:
    """The inventory number a CEB622 / CEB604 receipt gives (what a CEB816 tax bill is found by; what an
    export order's CEB701 is built with, delivery/summaries.py)."""
    value = entry.fields.get("invtNo") if entry.message_type in ("CEB622Message", "CEB604Message") else None
    return str(value)[:64] if value else None


class Ambiguous(Exception):
    """A receipt entry names filings of more than one tenant on its channel; ``str()`` says which."""


def match(uow, entry, channel: str) -> Filing | None:
    """The filing ``entry`` (a receipt entry that came in on ``channel``) answers, or None.
    Raises Ambiguous when its business key names filings of several tenants on that channel."""
    by_guid = uow.session.info.get(BY_GUID)        # a batch's filings by message id (ReceiptIngestor._prefetch)
    if entry.business_key.startswith("tax-bill:"):   # CEB816/818: invtNo -> inventory -> the order's tax record
        from gateway.service.agencies import tax_filing_for_bill
        known, found = receipt_batch.tax_record(uow, entry)     # a batch read it up front
        if known:
            return found
        pending = uow.session.info.get(PENDING_EVENTS)    # an inventory receipt (CEB622) of this same
        if pending is not None:                           # batch names the invtNo: it is read back
            receipt_rows.insert_events(uow.session, pending)
        else:
            uow.session.flush()
        found = tax_filing_for_bill(uow, entry)
        if found is None:
            return None
        # customs sends it about the inventory: it comes in on the customs channel of the order, while the
        # tax record itself may go out on the tax agency's channel, or on none (gateway/service/channels.py)
        order_sent_here = sent_on(channel).where(Filing.tenant_id == found.tenant_id, Filing.order_id == found.order_id,
                                          or_(Filing.id == found.id, Filing.agency == CUSTOMS))
        return found if uow.session.scalar(order_sent_here.limit(1)) is not None else None
    if entry.business_key.startswith("message:"):    # CEB900 oriCopMsgId, AgencyReceipt messageId
        guid = entry.business_key.split(":", 1)[1]
        return by_guid.get(guid) if by_guid is not None else uow.session.scalar(sent_on(channel).where(Filing.guid == guid))
    if entry.guid:       # the receipt echoes the guid of the message it answers (as the official samples do)
        found = (by_guid.get(entry.guid) if by_guid is not None
                 else uow.session.scalar(sent_on(channel).where(Filing.guid == entry.guid)))
        if found is not None and found.message_type == entry.answers:
            return found
    # the newest filing with this key (a later correction reuses the business numbers), preferring one
    # that was sent: a correction still in the outbox (or withdrawn) cannot be what customs answers
    rows = uow.session.scalars(sent_on(channel).where(Filing.business_key == entry.business_key)
                               .order_by(Filing.created_at.desc(), Filing.id.desc())).all()
    tenants = sorted({f.tenant_id for f in rows})
    if len(tenants) > 1:
        raise Ambiguous(f"{entry.message_type} for {entry.business_key} matches filings of {len(tenants)} tenants "
                        f"on channel {channel} ({', '.join(tenants)})")
    return next((f for f in rows if f.state not in (st.PENDING, st.WITHDRAWN)), rows[0] if rows else None)


def quarantine(uow_factory, tenant_id: str | None = None, *, everything: bool = False, limit: int = 100,
               cursor: str | None = None) -> list[dict]:
    """Receipts that could not be applied: unreadable ("quarantined") or matching no filing
    ("unmatched"). A tenant sees the rows attributed to it; ``everything`` (operators) sees all,
    tenant-less ones included. The first page of ``quarantine_page``."""
    return quarantine_page(uow_factory, tenant_id, everything=everything, limit=limit, cursor=cursor).items


def quarantine_page(uow_factory, tenant_id: str | None = None, *, everything: bool = False, limit: int = 100,
                    cursor: str | None = None) -> Page:
    """One page of the quarantine, newest first (service.listing)."""
    with uow_factory() as uow:
        stmt = select(Receipt).where(Receipt.outcome.in_(QUARANTINE_OUTCOMES))
        if not everything:
            stmt = stmt.where(Receipt.tenant_id == tenant_id)
        return listing.keyset_page(
            uow.session, stmt, (Receipt.id,), kind="receipt-quarantine",
            filters={"scope": "all" if everything else tenant_id}, cursor=cursor, limit=limit, descending=True,
            view=lambda rows: [{"id": r.id, "adapter": r.adapter, "cursor": r.cursor, "outcome": r.outcome,
                                "reason": r.info, "tenant_id": r.tenant_id, "sha256": r.sha256, "size": len(r.raw),
                                "received_at": r.received_at.isoformat(),
                                "preview": bytes(r.raw[:300]).decode("utf-8", errors="replace")} for r in rows])


def _merge(result, trial) -> None:
    """Add a finished batch's counts to the round's result."""
    for name, value in trial.__dict__.items():
        if isinstance(value, set):
            getattr(result, name).update(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            setattr(result, name, getattr(result, name) + value)
