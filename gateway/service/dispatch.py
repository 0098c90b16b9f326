"""Sending filings from the outbox and applying the receipts that come back.

At-least-once: a filing is sent from its outbox row, with the same message id on every retry.
Receipts are stored raw first (deduplicated by hash), then applied only if they move the filing
forward; one that cannot be read is quarantined and never blocks the ones behind it.
The full delivery machinery (circuit breaker, lookups on unknown outcomes, Celery workers) is the
subject of a later issue; this is the embedded, in-process dispatcher.
"""
from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from datetime import timedelta

from gateway.declarations.receipts import ReceiptUnreadable, parse_receipt
from gateway.domain import status as st
from gateway.ports import OutgoingMessage

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 600


@dataclass
class RoundResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0
    receipts: int = 0
    applied: int = 0
    quarantined: int = 0
    changed_orders: set = field(default_factory=set)

    @property
    def progress(self) -> bool:
        return bool(self.sent or self.receipts or self.failed)


class Dispatcher:
    def __init__(self, uow_factory, adapters: dict, clock, batch_size: int = 100):
        self.uow_factory = uow_factory
        self.adapters = adapters
        self.clock = clock
        self.batch_size = batch_size

    # ---- sending -------------------------------------------------------------------------
    def send_due(self, result: RoundResult) -> None:
        now = self.clock.now()
        for name, adapter in self.adapters.items():
            with self.uow_factory() as uow:
                rows = uow.outbox.claim_due(now, self.batch_size, name)
                for row in rows:
                    filing = uow.session.get(_models().Filing, row.filing_id)
                    blocker = self._blocker(uow, filing)
                    if blocker == "wait":
                        result.held += 1
                        continue
                    if blocker:
                        row.state = "failed"
                        row.last_error = blocker
                        self._set_state(uow, filing, st.REJECTED, None, blocker, result)
                        result.failed += 1
                        continue
                    outcome = adapter.send(OutgoingMessage(filing.guid, filing.message_type,
                                                           bytes(filing.signed_bytes)))
                    row.attempts += 1
                    if outcome.accepted:
                        row.state, row.sent_at, row.last_error = "sent", now, None
                        if st.RANK[filing.state] < st.RANK[st.SENT]:
                            self._set_state(uow, filing, st.SENT, None, None, result)
                        uow.audit.record(filing.tenant_id, "filing", filing.id, "filing.sent",
                                         {"guid": filing.guid, "adapter": name, "attempt": row.attempts,
                                          "duplicate": outcome.duplicate})
                        result.sent += 1
                    elif outcome.retryable:
                        delay = min(MAX_BACKOFF_SECONDS, 2 ** row.attempts) * (0.5 + random.random() / 2)
                        row.next_attempt_at = now + timedelta(seconds=delay)
                        row.last_error = outcome.error
                        result.retried += 1
                    else:
                        row.state, row.last_error = "failed", outcome.error
                        self._set_state(uow, filing, st.REJECTED, None, outcome.error, result)
                        result.failed += 1
                uow.commit()

    def _blocker(self, uow, filing) -> str | None:
        """'wait' while an earlier filing of the same order is unsent; a reason when one failed."""
        if filing.sequence <= 1:
            return None
        for other in uow.filings.for_order(filing.tenant_id, filing.order_id):
            if other.sequence < filing.sequence:
                if other.state == st.REJECTED:
                    return f"not sent: {other.message_type} of the same order was rejected"
                if st.RANK[other.state] < st.RANK[st.SENT]:
                    return "wait"
        return None

    # ---- receipts ------------------------------------------------------------------------
    def poll_receipts(self, result: RoundResult) -> None:
        for name, adapter in self.adapters.items():
            with self.uow_factory() as uow:
                cursor = uow.cursors.get(f"receipts:{name}")
            raws = adapter.fetch_receipts(cursor)
            for raw in raws:
                self.ingest(name, raw.body, raw.cursor, raw.received_at, result)
            if raws:
                with self.uow_factory() as uow:
                    uow.cursors.set(f"receipts:{name}", raws[-1].cursor)
                    uow.commit()

    def ingest(self, adapter: str, body: bytes, cursor: str, received_at, result: RoundResult) -> None:
        """Store one raw receipt, then apply what it says. Each receipt in its own transaction."""
        M = _models()
        with self.uow_factory() as uow:
            raw = uow.receipts.add_raw(adapter=adapter, cursor=cursor, raw=body, received_at=received_at)
            if raw is None:      # seen before: duplicates are normal
                return
            result.receipts += 1
            try:
                entries = parse_receipt(body)
            except ReceiptUnreadable as exc:
                raw.outcome, raw.info = "quarantined", str(exc)
                uow.audit.record(None, "receipt", str(raw.id), "receipt.quarantined", {"reason": str(exc)})
                result.quarantined += 1
                uow.commit()
                return
            outcomes = []
            for entry in entries:
                if entry.business_key.startswith("message:"):
                    filing = uow.filings.by_guid(entry.business_key.split(":", 1)[1])
                else:
                    matches = uow.filings.by_business_key(entry.business_key)
                    # the newest filing with this key (a later correction reuses the business numbers)
                    filing = matches[-1] if matches else None
                if filing is None:
                    outcomes.append("unmatched")
                    continue
                if raw.tenant_id is None:
                    raw.tenant_id = filing.tenant_id
                row = M.ReceiptEvent(receipt_id=raw.id, tenant_id=filing.tenant_id, filing_id=filing.id,
                                     message_type=entry.message_type, status_code=entry.status_code,
                                     status_time=entry.status_time, info=entry.info,
                                     parsed=json.dumps(entry.fields, ensure_ascii=False),
                                     outcome="applied", at=self.clock.now())
                new_state = st.state_for_code(entry.status_code)
                if entry.message_type == "CEB900Message":
                    new_state = st.REJECTED
                if st.moves_forward(filing.state, new_state):
                    self._set_state(uow, filing, new_state, entry.status_code, entry.info, result)
                    result.applied += 1
                else:
                    row.outcome = "ignored"
                uow.session.add(row)
                outcomes.append(row.outcome)
            raw.outcome = "applied" if "applied" in outcomes else outcomes[0]
            raw.message_type = entries[0].message_type
            uow.commit()

    # ---- state ---------------------------------------------------------------------------
    def _set_state(self, uow, filing, state: str, code: str | None, info: str | None, result) -> None:
        before = filing.state
        filing.state = state
        if code is not None:
            filing.last_status_code = code
        filing.updated_at = self.clock.now()
        uow.audit.record(filing.tenant_id, "filing", filing.id, "filing.state",
                         {"from": before, "to": state, "code": code, "info": info})
        self._refresh_order(uow, filing.tenant_id, filing.order_id, reason_hint=info)
        result.changed_orders.add(filing.order_id)

    def _refresh_order(self, uow, tenant_id: str, order_id: str, reason_hint: str | None) -> None:
        order = uow.orders.get(tenant_id, order_id)
        filings = uow.filings.for_order(tenant_id, order_id)
        views = [st.FilingView(f.message_type, f.agency, f.state, _reason(uow, f, reason_hint)) for f in filings]
        status, reason = st.combined_status(views)
        if (status, reason) != (order.status, order.status_reason):
            uow.audit.record(tenant_id, "order", order_id, "order.status",
                             {"from": order.status, "to": status, "reason": reason})
            order.status, order.status_reason = status, reason
            order.updated_at = self.clock.now()

    # ---- loops ---------------------------------------------------------------------------
    def run_once(self) -> RoundResult:
        result = RoundResult()
        self.send_due(result)
        self.poll_receipts(result)
        return result

    def run_until_idle(self, max_rounds: int = 100, idle_rounds: int = 2) -> list[RoundResult]:
        """Run rounds until nothing moved for ``idle_rounds`` rounds in a row (or max_rounds)."""
        rounds, idle = [], 0
        for _ in range(max_rounds):
            r = self.run_once()
            rounds.append(r)
            idle = 0 if r.progress else idle + 1
            if idle >= idle_rounds:
                break
        return rounds


def _reason(uow, filing, hint):
    if filing.state not in (st.REJECTED, st.RETURNED):
        return None
    receipts = uow.receipts.for_filing(filing.id)
    for r in reversed(receipts):
        if st.state_for_code(r.status_code or "") == st.REJECTED or r.message_type == "CEB900Message":
            return f"[{r.status_code}] {r.info}"
    return hint


def _models():
    from gateway.store import models

    return models
