"""Sending filings from the outbox: at least once, the same message id every time, and no second
copy when the first may have arrived.

One row's life:

  claim   (short transaction)  breaker gate → pick due rows (PostgreSQL ``FOR UPDATE SKIP LOCKED``;
                               SQLite transactions are exclusive) whose order has no earlier filing
                               still unsent → mark each in flight: owner, claim token, lease
                               (``claimed_until``; ``next_attempt_at`` moves to the lease end, so a
                               crashed dispatcher's rows come due again by themselves), attempts+1,
                               ``in_doubt`` = True (from now on the message may be out there)
  send    (no transaction)     in doubt from before (a crash, a timeout after writing)? →
                               ``adapter.lookup(guid)``: found → that is the outcome, no resend;
                               not found → send the stored bytes with the same guid
  record  (short transaction)  only if the claim token is still ours (fencing); classify:
                                 accepted / duplicate   → sent (already-done counts as sent)
                                 retryable              → retry later (per-row backoff + jitter)
                                 unknown (timeout after → retry later, still in doubt: looked up
                                 the request was written) first next time
                                 anything else          → blocking: the filing is rejected with
                                                          the reason
                               and the adapter's breaker learns the transport outcome.

Rows are independent: each has its own schedule, so one stuck filing never holds up another; only
a filing of higher sequence waits for the lower-sequence filings of its own order.
"""
from __future__ import annotations

import enum
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import aliased, defer

from gateway.domain import status as st
from gateway.ports import OutgoingMessage, SendResult
from gateway.store.models import Filing, OutboxItem

from .backoff import Backoff
from .breaker import OPEN, Breakers
from .state import StateKeeper

log = logging.getLogger("gateway.dispatch")


class Outcome(enum.Enum):
    SENT = "sent"
    DUPLICATE = "duplicate"     # already-done: the other side had this message id
    RETRY = "retry"             # transport trouble, nothing arrived: send again later
    UNKNOWN = "unknown"         # may have arrived: look it up before sending again
    BLOCKING = "blocking"       # refused for what it is (schema, business): never resend


def classify(result: SendResult) -> Outcome:
    if result.duplicate:
        return Outcome.DUPLICATE
    if result.accepted:
        return Outcome.SENT
    if getattr(result, "unknown", False):
        return Outcome.UNKNOWN
    if result.retryable:
        return Outcome.RETRY
    return Outcome.BLOCKING


@dataclass(frozen=True)
class Claimed:
    outbox_id: int
    token: str
    tenant_id: str
    order_id: str
    filing_id: str
    guid: str
    message_type: str
    body: bytes
    attempt: int
    was_in_doubt: bool


class OutboxSender:
    def __init__(self, uow_factory, clock, keeper: StateKeeper, breakers: Breakers, backoff: Backoff, *,
                 owner: str, lease_seconds: float, batch_size: int):
        self.uow_factory = uow_factory
        self.clock = clock
        self.keeper = keeper
        self.breakers = breakers
        self.backoff = backoff
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size

    # ---- one adapter, one round ----------------------------------------------------------------
    def send_due(self, name: str, adapter, result) -> None:
        claimed_at = self.clock.now()
        items = self.claim(name, result)
        # A send may start only in the first half of the lease: with the lease at least twice the
        # adapter's timeout, every send ends before another dispatcher may take its row over.
        start_by = claimed_at + timedelta(seconds=self.lease_seconds / 2)
        for i, item in enumerate(items):
            if i and self.clock.now() >= start_by:
                self.release(items[i:], result)
                break
            state = self._send_one(name, adapter, item, result)
            if state == OPEN and i + 1 < len(items):
                self.release(items[i + 1:], result)
                break

    # ---- claim ---------------------------------------------------------------------------------
    def claim(self, name: str, result) -> list[Claimed]:
        now = self.clock.now()
        with self.uow_factory() as uow:        # the breaker's row lock is held only this long
            gate = self.breakers.gate(uow.session, name, now, self.batch_size)
            uow.commit()
        if gate.limit == 0:
            result.blocked_adapters.add(name)
            return []
        with self.uow_factory() as uow:
            earlier = aliased(Filing)
            earlier_unsent = (select(earlier.id)
                              .where(earlier.order_id == Filing.order_id, earlier.sequence < Filing.sequence,
                                     earlier.state == st.PENDING)
                              .exists())
            stmt = (select(OutboxItem, Filing)
                    .join(Filing, Filing.id == OutboxItem.filing_id)
                    .where(OutboxItem.state == "pending", OutboxItem.adapter == name,
                           OutboxItem.next_attempt_at <= now, ~earlier_unsent)
                    .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
                    .limit(gate.limit))
            if uow.session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True, of=OutboxItem)
            items = []
            for row, filing in uow.session.execute(stmt).all():
                blocker = self._blocker(uow, filing)
                if blocker == "wait":
                    result.held += 1
                    continue
                if blocker:
                    row.state, row.last_error, row.in_doubt = "failed", blocker, False
                    self.keeper.fresh(uow, filing)
                    self.keeper.set_state(uow, filing, st.REJECTED, None, blocker, result)
                    result.failed += 1
                    continue
                token = str(uuid.uuid4())
                items.append(Claimed(row.id, token, row.tenant_id, filing.order_id, filing.id, filing.guid,
                                     filing.message_type,
                                     bytes(filing.signed_bytes), row.attempts + 1, bool(row.in_doubt)))
                row.attempts += 1
                row.claimed_by, row.claim_token = self.owner, token
                row.claimed_until = row.next_attempt_at = now + timedelta(seconds=self.lease_seconds)
                row.in_doubt = True
            if gate.probe and not items:
                self.breakers.release_probe(uow.session, name, now)
            uow.commit()
        return items

    @staticmethod
    def _blocker(uow, filing) -> str | None:
        """'wait' while an earlier filing of the same order is unsent; a reason when one failed."""
        if filing.sequence <= 1:
            return None
        earlier = uow.session.execute(
            select(Filing.message_type, Filing.state)
            .where(Filing.tenant_id == filing.tenant_id, Filing.order_id == filing.order_id,
                   Filing.sequence < filing.sequence)).all()
        for message_type, state in earlier:
            if state == st.REJECTED:
                return f"not sent: {message_type} of the same order was rejected"
        if any(st.RANK[state] < st.RANK[st.SENT] for _, state in earlier):
            return "wait"
        return None

    def release(self, items: list[Claimed], result) -> None:
        """Give back claimed rows that were not sent (the circuit opened meanwhile, or the lease is
        half gone)."""
        now = self.clock.now()
        with self.uow_factory() as uow:
            for item in items:
                row = uow.session.get(OutboxItem, item.outbox_id)
                if row is None or row.claim_token != item.token:
                    continue
                row.attempts -= 1
                row.claimed_by = row.claim_token = row.claimed_until = None
                row.in_doubt = item.was_in_doubt
                row.next_attempt_at = now
                result.released += 1
            uow.commit()

    # ---- send ----------------------------------------------------------------------------------
    def _send_one(self, name: str, adapter, item: Claimed, result) -> str:
        looked_up = None
        res: SendResult | None = None
        if item.was_in_doubt:
            try:
                found = adapter.lookup(item.guid)
            except Exception as exc:   # could not ask: still in doubt, try later
                res = SendResult(item.guid, accepted=False, retryable=True, unknown=True,
                                 error=f"lookup failed: {type(exc).__name__}: {exc}")
            else:
                # found and taken: that is the outcome. Not there (or there but not taken): send;
                # a refusal comes back the same way and is classified then.
                looked_up = found is not None and found.accepted
                result.looked_up += 1
                if looked_up:
                    res = found
        if res is None:
            try:
                res = adapter.send(OutgoingMessage(item.guid, item.message_type, item.body))
            except Exception as exc:   # an adapter that raises may have written the request
                res = SendResult(item.guid, accepted=False, retryable=True, unknown=True,
                                 error=f"adapter raised {type(exc).__name__}: {exc}")
        return self._record(name, item, classify(res), res, looked_up, result)

    # ---- record --------------------------------------------------------------------------------
    def _record(self, name: str, item: Claimed, outcome: Outcome, res: SendResult, looked_up, result) -> str:
        now = self.clock.now()
        with self.uow_factory() as uow:
            stmt = select(OutboxItem).where(OutboxItem.id == item.outbox_id)
            if uow.session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update()
            row = uow.session.scalar(stmt)
            if row is None or row.claim_token != item.token:
                # our lease ran out and another dispatcher took the row: it looks the message up
                log.warning("outbox %s (%s): lease lost before recording %s; left to its new owner",
                            item.outbox_id, item.guid, outcome.value)
                result.lost_leases += 1
                return self.breakers.row(uow.session, name, now, lock=False).state
            # the order's lock first, then the filing: read after the lock, it is current
            self.keeper.lock_order(uow, item.tenant_id, item.order_id)
            filing = uow.session.scalar(select(Filing).options(defer(Filing.signed_bytes))
                                        .where(Filing.id == item.filing_id))
            row.claimed_by = row.claim_token = row.claimed_until = None
            if looked_up is not None:
                uow.audit.record(item.tenant_id, "filing", item.filing_id, "filing.lookup",
                                 {"guid": item.guid, "adapter": name, "found": looked_up})
            failure = None
            if outcome in (Outcome.SENT, Outcome.DUPLICATE):
                row.state, row.sent_at, row.last_error, row.in_doubt = "sent", now, None, False
                row.next_attempt_at = now
                if st.RANK[filing.state] < st.RANK[st.SENT]:
                    self.keeper.set_state(uow, filing, st.SENT, None, None, result)
                uow.audit.record(item.tenant_id, "filing", item.filing_id, "filing.sent",
                                 {"guid": item.guid, "adapter": name, "attempt": item.attempt,
                                  "duplicate": outcome is Outcome.DUPLICATE, "looked_up": bool(looked_up),
                                  "dispatcher": self.owner})
                result.sent += 1
            elif outcome in (Outcome.RETRY, Outcome.UNKNOWN):
                failure = res.error or outcome.value
                delay = self.backoff.delay(row.attempts)
                row.next_attempt_at = now + timedelta(seconds=delay)
                row.in_doubt = outcome is Outcome.UNKNOWN
                row.last_error = (f"unknown outcome (looked up before any resend): {failure}"
                                  if outcome is Outcome.UNKNOWN else failure)[:4000]
                uow.audit.record(item.tenant_id, "filing", item.filing_id,
                                 "filing.send_unknown" if outcome is Outcome.UNKNOWN else "filing.send_retry",
                                 {"guid": item.guid, "adapter": name, "attempt": item.attempt, "error": failure,
                                  "retry_in_seconds": round(delay, 3)})
                if outcome is Outcome.UNKNOWN:
                    result.unknown += 1
                result.retried += 1
            else:
                reason = res.error or "refused by the government side"
                row.state, row.last_error, row.in_doubt = "failed", reason[:4000], False
                self.keeper.set_state(uow, filing, st.REJECTED, None, reason, result)
                result.failed += 1
            state = self.breakers.record(uow.session, name, now, failure)
            uow.commit()
        return state
