"""Sending filings from the outbox: at least once, the same message id every time, and no second
copy when the first may have arrived.

One row's life:

  claim   (short transaction)  breaker gate (a closed circuit read without a lock, in the claim's
                               own transaction; any other state: the locked gate in one before it)
                               → pick up to a batch of due rows in one statement
                               (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite transactions are
                               exclusive) whose order has no earlier filing still unsent, check the
                               earlier filings of all their orders in one more, and mark them in
                               flight with ONE ``UPDATE``: owner, claim token, lease
                               (``claimed_until``; ``next_attempt_at`` moves to the lease end, so a
                               crashed dispatcher's rows come due again by themselves), attempts+1,
                               ``in_doubt`` = True (from now on the message may be out there)
  send    (no transaction)     in doubt from before (a crash, a timeout after writing)? →
                               ``adapter.lookup(guid)``: found → that is the outcome, no resend;
                               not found → send the stored bytes with the same guid;
                               the channel has no lookup (DXP: ``LookupUnsupported``) → send
                               again with the same guid (the receiver deduplicates by it; a
                               "duplicate" answer counts as done); not a breaker failure
  record  (short transaction,   only if the claim token is still ours (fencing); classify:
          one per batch)
                                 accepted / duplicate   → sent (already-done counts as sent)
                                 unroutable agency      → the record is kept, "prepared, not
                                 record                   transmitted (no channel)"
                                 retryable              → retry later (per-row backoff + jitter)
                                 unknown (timeout after → retry later, still in doubt: looked up
                                 the request was written) first next time
                                 anything else          → blocking: the filing is rejected with
                                                          the reason
                               and the adapter's breaker learns the transport outcome.

A batch's outcomes are recorded together (one transaction, one audit-chain append, each order's
combined status recomputed once); a transport failure is recorded at once, with what came before
it, so the breaker learns it before the next send and an opened circuit releases the rest. On the
channels that take it (http, soap) up to GATEWAY_SEND_CONCURRENCY sends of a batch are in flight at
once, with the same rules (concurrent_sends.py).

Rows are independent: each has its own schedule, so one stuck filing never holds up another; only
a filing of higher sequence waits for the lower-sequence filings of its own order — a customs filing
only for customs filings: the records of the other agencies never hold up or block customs. An
order's CEB701 is also held until it was built with its inventory's number (summaries.py), when the
dispatcher builds such summaries.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, or_, select
from sqlalchemy.orm import aliased, defer

from gateway.domain import status as st
from gateway.ports import LookupUnsupported, OutgoingMessage, SendResult
from gateway.store.models import Filing, OutboxItem

from ..channels import CUSTOMS
from . import send_sql as sql
from .backoff import Backoff
from .breaker import CLOSED, Breakers, Gate
from .concurrent_sends import SendPool
from .leases import LeasedWorker
from .outcomes import Claimed, Outcome, Sent, classify  # noqa: F401  (Outcome, classify: imported from here)
from .state import StateKeeper
from .summaries import BUILT_MARK, SUMMARY

log = logging.getLogger("gateway.dispatch")
_GONE = object()      # an outbox row no longer there


class OutboxSender(LeasedWorker):
    def __init__(self, uow_factory, clock, keeper: StateKeeper, breakers: Breakers, backoff: Backoff, *,
                 owner: str, lease_seconds: float, batch_size: int, hold_summaries: bool = False,
                 concurrency: int = 1):
        super().__init__(uow_factory, clock, backoff, owner=owner, lease_seconds=lease_seconds, batch_size=batch_size)
        self.keeper = keeper
        self.breakers = breakers
        self.hold_summaries = hold_summaries
        self._claim_statements: dict[str, Any] = {}
        self.pool = SendPool(concurrency)      # sends in flight at once, on channels that take it

    # ---- one adapter, one round ----------------------------------------------------------------
    def send_due(self, name: str, adapter, result) -> None:
        claimed_at = self.clock.now()
        items = self.claim(name, result)
        start_by = self.start_by(claimed_at)     # the lease is at least twice the adapter's timeout
        # The rows of one claim have no order between them (the claim leaves out any row whose order
        # still has an earlier unsent filing: ``earlier_unsent`` below, ``_blockers``' "wait"), so on a
        # channel that takes it they are sent several at a time (concurrent_sends.py).
        self.pool.run(items, adapter, lambda item, counts: self._send_one(adapter, item, counts),
                      may_start=lambda: self.clock.now() < start_by,
                      record=lambda done: self._record_batch(name, done, result),
                      release=lambda rest: self.release(rest, result), result=result)

    # ---- claim ---------------------------------------------------------------------------------
    def claim(self, name: str, result) -> list[Claimed]:
        now = self.clock.now()
        with self.uow_factory() as uow:
            # a closed circuit's gate writes nothing and takes no lock: read so, the claim follows in
            # the same transaction; any other state goes through the breaker's gate first
            if self.breakers.state(uow.session, name) == CLOSED:
                items = self._claim_rows(uow, name, now, Gate(CLOSED, self.batch_size), result)
                uow.commit()
                return items
        with self.uow_factory() as uow:        # the breaker's row lock is held only this long
            gate = self.breakers.gate(uow.session, name, now, self.batch_size)
            uow.commit()
        if gate.limit == 0:
            result.blocked_adapters.add(name)
            return []
        with self.uow_factory() as uow:
            items = self._claim_rows(uow, name, now, gate, result)
            uow.commit()
        return items

    def _claim_rows(self, uow, name: str, now, gate: Gate, result) -> list[Claimed]:
        """Pick and mark in flight up to ``gate.limit`` due rows (the module docstring's claim)."""
        session = uow.session
        stmt = self._claim_statement(session.get_bind().dialect.name)
        rows = session.execute(stmt, {"adapter": name, "now": now, "limit": gate.limit}).all()
        blockers = self._blockers(session, rows)
        token = str(uuid.uuid4())          # one claim, one fencing token for its rows
        items, lease_end = [], self.lease_end(now)
        for outbox_id, attempts, in_doubt, tenant_id, order_id, filing_id, guid, message_type, _, body, agency \
                in rows:
            blocker = blockers.get(filing_id)
            if blocker == "wait":
                result.held += 1
                continue
            if blocker:
                self._fail_blocked(uow, outbox_id, filing_id, blocker, result)
                continue
            items.append(Claimed(outbox_id, token, tenant_id, order_id, filing_id, guid, message_type,
                                 bytes(body), attempts + 1, bool(in_doubt), agency))
        if items:
            session.execute(sql.CLAIM, {"ids": [c.outbox_id for c in items], "owner": self.owner,
                                        "token": token, "lease_end": lease_end})
        if gate.probe and not items:
            self.breakers.release_probe(session, name, now)
        return items

    def _claim_statement(self, dialect: str):
        """The claim's SELECT, built once per dialect (bound: adapter, now, limit): due pending rows of
        the adapter whose order has no earlier filing still unsent, oldest due first."""
        stmt = self._claim_statements.get(dialect)
        if stmt is not None:
            return stmt
        earlier = aliased(Filing)
        earlier_unsent = (select(earlier.id)
                          .where(earlier.tenant_id == Filing.tenant_id, earlier.order_id == Filing.order_id,
                                 earlier.sequence < Filing.sequence, earlier.state == st.PENDING,
                                 or_(Filing.agency != CUSTOMS, earlier.agency == CUSTOMS))
                          .exists())
        stmt = (select(OutboxItem.id, OutboxItem.attempts, OutboxItem.in_doubt, Filing.tenant_id,
                       Filing.order_id, Filing.id.label("filing_id"), Filing.guid, Filing.message_type, Filing.sequence,
                       Filing.signed_bytes, Filing.agency)
                .join(Filing, Filing.id == OutboxItem.filing_id)
                .where(OutboxItem.state == "pending", OutboxItem.adapter == bindparam("adapter"),
                       OutboxItem.next_attempt_at <= bindparam("now"), ~earlier_unsent, *self._held_summaries())
                .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
                .limit(bindparam("limit", type_=Integer)))
        if dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=OutboxItem)
        self._claim_statements[dialect] = stmt
        return stmt

    def _held_summaries(self) -> tuple:
        """With ``hold_summaries``: an order's CEB701 (sequence > 1) is not claimed until it was built
        with its inventory's number (summaries.py; ``built_with`` then names the ``summary``), unless an
        earlier customs filing of its order was refused. Left out of the claim, not skipped after it:
        held summaries never fill a batch."""
        if not self.hold_summaries:
            return ()
        earlier = aliased(Filing)
        refused_before = (select(earlier.id)     # then it is claimed to be failed with the reason (_blockers)
                          .where(earlier.tenant_id == Filing.tenant_id, earlier.order_id == Filing.order_id,
                                 earlier.sequence < Filing.sequence, earlier.state == st.REJECTED,
                                 earlier.agency == CUSTOMS)
                          .exists())
        return (or_(Filing.message_type != SUMMARY, Filing.sequence <= 1,
                    Filing.built_with.like(f"%{BUILT_MARK}%"), refused_before),)

    @staticmethod
    def _blockers(session, rows) -> dict[str, str]:
        """filing id → 'wait' while an earlier filing of the same order is unsent, or the reason when
        one failed; all the batch's orders read in one statement. A customs filing looks at the
        earlier customs filings only."""
        later = [r for r in rows if r.sequence > 1]
        if not later:
            return {}
        earlier: dict[tuple[str, str], list[tuple[int, str, str, str]]] = {}
        for tenant_id, order_id, sequence, message_type, state, agency in session.execute(
                sql.ORDER_FILINGS, {"tenants": list({r.tenant_id for r in later}),
                                    "orders": list({r.order_id for r in later})}):
            earlier.setdefault((tenant_id, order_id), []).append((sequence, message_type, state, agency))
        out = {}
        for r in later:
            before = [(t, s) for seq, t, s, agency in earlier.get((r.tenant_id, r.order_id), [])
                      if seq < r.sequence and (r.agency != CUSTOMS or agency == CUSTOMS)]
            rejected = next((t for t, s in before if s == st.REJECTED), None)
            if rejected:
                out[r.filing_id] = f"not sent: {rejected} of the same order was rejected"
            elif any(st.RANK[s] < st.RANK[st.SENT] for _, s in before):
                out[r.filing_id] = "wait"
        return out

    def _fail_blocked(self, uow, outbox_id: int, filing_id: str, reason: str, result) -> None:
        row = uow.session.get(OutboxItem, outbox_id)
        filing = uow.session.get(Filing, filing_id, options=[defer(Filing.signed_bytes)])
        row.state, row.last_error, row.in_doubt = "failed", reason, False
        self.keeper.fresh(uow, filing)
        self.keeper.set_state(uow, filing, st.REJECTED, None, reason, result)
        result.failed += 1

    def release(self, items: list[Claimed], result) -> None:
        """Give back claimed rows that were not sent (the circuit opened meanwhile, or the lease is
        half gone)."""
        now = self.clock.now()
        with self.uow_factory() as uow:
            for was_in_doubt in (False, True):
                ids = [i.outbox_id for i in items if i.was_in_doubt is was_in_doubt]
                tokens = {i.token for i in items}
                if ids:
                    result.released += uow.session.execute(sql.RELEASE, {
                        "ids": ids, "tokens": list(tokens), "was_in_doubt": was_in_doubt, "now": now}).rowcount
            uow.commit()

    # ---- send ----------------------------------------------------------------------------------
    def _send_one(self, adapter, item: Claimed, result) -> Sent:
        looked_up = None
        res: SendResult | None = None
        if item.was_in_doubt:
            try:
                found = adapter.lookup(item.guid)
            except LookupUnsupported:  # no query on this channel (DXP): resend, same guid, below
                found = None
                result.resent_in_doubt += 1
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
        return Sent(item, classify(res), res, looked_up)

    # ---- record --------------------------------------------------------------------------------
    def _record(self, name: str, item: Claimed, outcome: Outcome, res: SendResult, looked_up, result) -> str:
        """Record one send (see ``_record_batch``)."""
        return self._record_batch(name, [Sent(item, outcome, res, looked_up)], result)

    def _record_batch(self, name: str, done: list[Sent], result) -> str:
        """Record the outcomes of a batch of sends in one transaction; returns the breaker's state.
        The common outcome (sent, or already there) is written set-wise: one UPDATE for the batch's
        outbox rows, one for their filings, the same audit records and webhook events per filing;
        the rest goes row by row through ``_apply``."""
        now = self.clock.now()
        with self.uow_factory() as uow:
            session = uow.session
            stmt = sql.TOKENS_LOCKED if session.get_bind().dialect.name == "postgresql" else sql.TOKENS
            tokens = dict(session.execute(stmt, {"ids": [d.item.outbox_id for d in done]}).all())
            live = []
            for d in done:
                if tokens.get(d.item.outbox_id, _GONE) != d.item.token:
                    # our lease ran out and another dispatcher took the row: it looks the message up
                    log.warning("outbox %s (%s): lease lost before recording %s; left to its new owner",
                                d.item.outbox_id, d.item.guid, d.outcome.value)
                    result.lost_leases += 1
                else:
                    live.append(d)
            if not live:
                return self.breakers.row(session, name, now, lock=False).state
            # the orders' locks first, then the filings: read after the locks, they are current
            self.keeper.lock_orders(uow, {(d.item.tenant_id, d.item.order_id) for d in live})
            quick = {d.item.filing_id: d for d in live if d.outcome in (Outcome.SENT, Outcome.DUPLICATE)
                     and d.item.message_type not in st.REVERSALS}
            before = self._mark_sent(session, quick, now)
            slow = [d for d in live if d.item.filing_id not in quick]
            rows = {r.id: r for r in session.scalars(select(OutboxItem).where(
                OutboxItem.id.in_([d.item.outbox_id for d in slow])))} if slow else {}
            filings = {f.id: f for f in session.scalars(select(Filing).options(defer(Filing.signed_bytes))
                                                        .where(Filing.id.in_([d.item.filing_id for d in slow])))
                       } if slow else {}
            failures: list[str | None] = []
            # the filings' states and orders' statuses written set-wise when the batch ends (state.py)
            with self.keeper.batched(uow, write_later=True):
                for d in live:
                    if d.item.filing_id in quick:
                        failure = self._applied(uow, name, d, before[d.item.filing_id], result)
                    else:
                        failure = self._apply(uow, name, d, rows[d.item.outbox_id], filings[d.item.filing_id],
                                              now, result)
                    if failure is not None or not failures or failures[-1] is not None:
                        failures.append(failure)      # a run of successes counts once
            states = [self.breakers.record(session, name, now, failure) for failure in failures]
            uow.commit()
        return states[-1]

    def _mark_sent(self, session, quick: dict[str, Sent], now) -> dict:
        """Move the rows of ``quick`` (filing id → its send) to sent, and their filings that were not
        sent yet to ``sent``, in two statements; the filings as they were before (plain rows)."""
        if not quick:
            return {}
        before = {f.id: f for f in session.execute(sql.BEFORE_SENT, {"ids": list(quick)})}
        session.execute(sql.OUTBOX_SENT, {"ids": [d.item.outbox_id for d in quick.values()], "now": now})
        moving = [f.id for f in before.values() if st.RANK[f.state] < st.RANK[st.SENT]]
        if moving:
            session.execute(sql.FILINGS_SENT, {"ids": moving, "now": now})
        return before

    def _applied(self, uow, name: str, d: Sent, filing, result) -> str | None:
        """The audit records and events of a send ``_mark_sent`` wrote (as ``_apply`` writes them)."""
        item = d.item
        if d.looked_up is not None:
            uow.audit.record(item.tenant_id, "filing", item.filing_id, "filing.lookup",
                             {"guid": item.guid, "adapter": name, "found": d.looked_up})
        if st.RANK[filing.state] < st.RANK[st.SENT]:
            self.keeper.moved(uow, filing, st.SENT, result)
        uow.audit.record(item.tenant_id, "filing", item.filing_id, "filing.sent",
                         {"guid": item.guid, "adapter": name, "attempt": item.attempt,
                          "duplicate": d.outcome is Outcome.DUPLICATE, "looked_up": bool(d.looked_up),
                          "dispatcher": self.owner})
        result.sent += 1
        return None

    def _apply(self, uow, name: str, d: Sent, row: OutboxItem, filing: Filing, now, result) -> str | None:
        """One send's outcome on its row and filing; returns the transport failure (None: it worked)."""
        item, outcome, res = d.item, d.outcome, d.res
        row.claimed_by = row.claim_token = row.claimed_until = None
        if d.looked_up is not None:
            uow.audit.record(item.tenant_id, "filing", item.filing_id, "filing.lookup",
                             {"guid": item.guid, "adapter": name, "found": d.looked_up})
        if outcome in (Outcome.SENT, Outcome.DUPLICATE):
            row.state, row.sent_at, row.last_error, row.in_doubt = "sent", now, None, False
            row.next_attempt_at = now
            if st.RANK[filing.state] < st.RANK[st.SENT]:
                self.keeper.set_state(uow, filing, st.SENT, None, None, result)
            uow.audit.record(item.tenant_id, "filing", item.filing_id, "filing.sent",
                             {"guid": item.guid, "adapter": name, "attempt": item.attempt,
                              "duplicate": outcome is Outcome.DUPLICATE, "looked_up": bool(d.looked_up),
                              "dispatcher": self.owner})
            result.sent += 1
            return None
        if outcome in (Outcome.RETRY, Outcome.UNKNOWN):
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
            return failure
        if outcome is Outcome.UNROUTABLE and filing.agency != CUSTOMS:
            reason = f"{st.NO_CHANNEL}: {res.error or name + ' cannot carry it'}"
            row.state, row.last_error, row.in_doubt = "failed", reason[:4000], False
            uow.audit.record(item.tenant_id, "filing", item.filing_id, "filing.not_transmitted",
                             {"message_type": item.message_type, "adapter": name, "reason": reason})
            self.keeper.set_state(uow, filing, st.NOT_TRANSMITTED, None, reason, result)
            result.not_transmitted += 1
            return None
        reason = res.error or "refused by the government side"
        row.state, row.last_error, row.in_doubt = "failed", reason[:4000], False
        self.keeper.set_state(uow, filing, st.REJECTED, None, reason, result)
        result.failed += 1
        return None
