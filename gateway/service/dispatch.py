"""The dispatcher: filings out of the outbox to the government side, receipts back into state,
state changes out to the tenants' webhooks.

At-least-once with no second copy where it can be avoided: a row is claimed with a lease, sent
outside any transaction with the same message id on every retry, and its result recorded only by
the claim's owner; a timeout after the request was written (or a dispatcher that died mid-send) is
an unknown outcome, resolved by ``adapter.lookup`` before any resend. Retryable failures back off
per row (exponential, with jitter); each adapter has a circuit breaker shared through the database.
Receipts are stored raw first and applied only if they move the filing forward. Every state change
enqueues its webhook events in the same transaction. See ``gateway.service.delivery``.

The same object runs embedded (``run_once`` in a loop: ``gateway serve``, ``gateway dispatch run``)
and distributed (each step as a Celery task: ``gateway.worker``); any number of them may run at
once against one PostgreSQL database.
"""
from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import case, func, select, text

from gateway.ports import UuidGenerator
from gateway.service.delivery import breaker as breaker_mod
from gateway.service.delivery.backoff import Backoff
from gateway.service.delivery.breaker import BreakerPolicy, Breakers
from gateway.service.delivery.receipts import ReceiptIngestor
from gateway.service.delivery.sender import OutboxSender
from gateway.service.delivery.state import StateKeeper
from gateway.service.delivery.webhooks import WebhookDeliverer, WebhookEvents

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 600
STATISTICS_EVERY_SECONDS = 600.0    # SQLite: PRAGMA optimize (ANALYZE where the statistics are stale)


@dataclass(frozen=True)
class DeliveryPolicy:
    batch_size: int = 100
    lease_seconds: float = 120.0        # keep well above the adapter's own send timeout
    send_concurrency: int = 8           # sends in flight at once, on channels that declare concurrent_sends
    backoff: Backoff = Backoff(base=1.0, factor=2.0, cap=MAX_BACKOFF_SECONDS)
    breaker: BreakerPolicy = BreakerPolicy()
    webhook_backoff: Backoff = Backoff(base=2.0, factor=2.0, cap=3600.0)
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 15
    webhook_batch_size: int = 50


@dataclass
class RoundResult:
    sent: int = 0
    retried: int = 0
    unknown: int = 0
    looked_up: int = 0
    resent_in_doubt: int = 0      # in doubt on a channel without lookup (DXP): resent with the same id
    failed: int = 0
    not_transmitted: int = 0      # agency records no channel carries (prepared, not transmitted)
    held: int = 0
    released: int = 0
    lost_leases: int = 0
    receipts: int = 0
    duplicates: int = 0
    applied: int = 0
    quarantined: int = 0
    unmatched: int = 0
    poll_errors: int = 0
    webhooks_delivered: int = 0
    webhooks_retried: int = 0
    webhooks_failed: int = 0
    summaries_built: int = 0      # orders' CEB701 built with their inventory's number (delivery/summaries.py)
    blocked_adapters: set = field(default_factory=set)
    changed_orders: set = field(default_factory=set)

    @property
    def progress(self) -> bool:
        return bool(self.sent or self.receipts or self.failed or self.not_transmitted or self.webhooks_delivered
                    or self.webhooks_failed)

    def summary(self) -> dict:
        out: dict[str, int | list[str]] = {k: v for k, v in self.__dict__.items() if isinstance(v, int) and v}
        if self.blocked_adapters:
            out["blocked_adapters"] = sorted(self.blocked_adapters)
        return out


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Dispatcher:
    def __init__(self, uow_factory, adapters: dict, clock, batch_size: int | None = None, *,
                 policy: DeliveryPolicy | None = None, rng=None, ids=None, owner: str | None = None,
                 webhook_poster=None, receipt_trust=None, webhook_secrets=None, summaries=None):
        """``rng``: the random source of the backoff jitter (tests pass a constant);
        ``webhook_poster``: the HTTP side of webhooks (None: webhooks are queued, not delivered);
        ``summaries``: an ``OrderSummaries`` (delivery/summaries.py): an order's CEB701 is then held until
        its inventory is numbered and built listing that invtNo (None: sent as planned, with its window)."""
        policy = policy or DeliveryPolicy()
        if batch_size is not None:
            policy = replace(policy, batch_size=batch_size)
        rng = rng or random.random
        self.uow_factory = uow_factory
        self.adapters = adapters
        self.clock = clock
        self.policy = policy
        self.owner = owner or default_owner()
        self.webhook_poster = webhook_poster
        self._statistics_at = time.monotonic()      # the first optimize after the first ten minutes
        self.events = WebhookEvents(clock, ids or UuidGenerator())
        self.keeper = StateKeeper(clock, self.events)
        self.breakers = Breakers(policy.breaker, self.owner)
        self.sender = OutboxSender(uow_factory, clock, self.keeper, self.breakers, policy.backoff.with_rng(rng),
                                   owner=self.owner, lease_seconds=policy.lease_seconds,
                                   batch_size=policy.batch_size, hold_summaries=summaries is not None,
                                   concurrency=policy.send_concurrency)
        self.summaries = summaries
        self.receipts = ReceiptIngestor(uow_factory, clock, self.keeper, receipt_trust)
        self.webhooks = WebhookDeliverer(uow_factory, clock, webhook_poster, owner=self.owner,
                                         backoff=policy.webhook_backoff.with_rng(rng),
                                         lease_seconds=policy.lease_seconds,
                                         timeout_seconds=policy.webhook_timeout_seconds,
                                         max_attempts=policy.webhook_max_attempts,
                                         batch_size=policy.webhook_batch_size, secrets=webhook_secrets)

    @property
    def batch_size(self) -> int:
        return self.policy.batch_size

    # ---- the three steps (each is also a Celery task) ------------------------------------------
    def send_due(self, result: RoundResult) -> None:
        if self.summaries is not None:
            self.summaries.build_due(result)
        for name, adapter in self.adapters.items():
            self.sender.send_due(name, adapter, result)

    def poll_receipts(self, result: RoundResult) -> None:
        for name, adapter in self.adapters.items():
            self.receipts.poll(name, adapter, result, batch_size=self.policy.batch_size)

    def deliver_webhooks(self, result: RoundResult) -> None:
        self.webhooks.deliver_due(result)

    def ingest(self, adapter: str, body: bytes, cursor: str, received_at, result: RoundResult) -> None:
        """Store one raw receipt and apply it (also for receipts pushed to us)."""
        self.receipts.ingest(adapter, body, cursor, received_at, result)

    # ---- loops ---------------------------------------------------------------------------------
    def run_once(self) -> RoundResult:
        result = RoundResult()
        self.keep_statistics()
        self.send_due(result)
        self.poll_receipts(result)
        self.deliver_webhooks(result)
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

    def keep_statistics(self) -> None:
        """SQLite: ``PRAGMA optimize`` now and then (it runs ANALYZE only on the tables whose
        statistics the planner lacks or that grew), so the hot lookups keep their indexes as the
        database grows. PostgreSQL's autovacuum does this itself (docs/deployment.md)."""
        now = time.monotonic()
        if now - self._statistics_at < STATISTICS_EVERY_SECONDS:
            return
        self._statistics_at = now
        with self.uow_factory() as uow:
            if uow.session.get_bind().dialect.name == "sqlite":
                uow.session.execute(text("PRAGMA optimize"))
                uow.commit()

    # ---- visibility ----------------------------------------------------------------------------
    def status(self) -> dict:
        return delivery_status(self.uow_factory, self.clock.now(), list(self.adapters))


def delivery_status(uow_factory, now: datetime, adapters: list[str] | None = None) -> dict:
    """Breakers, their recent transitions, the outbox by adapter and state (in flight, in doubt,
    waiting), webhook deliveries and receipts needing an operator."""
    from gateway.store.models import OutboxItem, Receipt, WebhookDelivery

    with uow_factory() as uow:
        s = uow.session
        breakers = {b["adapter"]: b for b in breaker_mod.snapshot(s)}
        for name in adapters or []:
            breakers.setdefault(name, {"adapter": name, "state": "closed", "consecutive_failures": 0})
        in_flight = case((OutboxItem.claimed_until > now, 1), else_=0)
        due = case(((OutboxItem.next_attempt_at <= now) & (OutboxItem.state == "pending"), 1), else_=0)
        outbox: dict[str, dict] = {}
        for adapter, state, n, flying, doubt, due_n in s.execute(
                select(OutboxItem.adapter, OutboxItem.state, func.count(), func.sum(in_flight),
                       func.sum(case((OutboxItem.in_doubt, 1), else_=0)), func.sum(due))
                .group_by(OutboxItem.adapter, OutboxItem.state)).all():
            a = outbox.setdefault(adapter, {"pending": 0, "sent": 0, "failed": 0, "done": 0, "in_flight": 0,
                                            "in_doubt": 0, "due": 0})
            a[state] = n
            a["in_flight"] += int(flying or 0)
            a["in_doubt"] += int(doubt or 0) if state == "pending" else 0
            a["due"] += int(due_n or 0)
        webhooks = dict(s.execute(select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)).all())
        receipts = dict(s.execute(select(Receipt.outcome, func.count())
                                  .where(Receipt.outcome.in_(("quarantined", "unmatched")))
                                  .group_by(Receipt.outcome)).all())
        return {"at": now.isoformat(), "breakers": sorted(breakers.values(), key=lambda b: b["adapter"]),
                "transitions": breaker_mod.transitions(s, limit=20), "outbox": outbox,
                "webhook_deliveries": webhooks,
                "receipts": {"quarantined": receipts.get("quarantined", 0), "unmatched": receipts.get("unmatched", 0)}}
