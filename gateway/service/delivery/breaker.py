"""One circuit breaker per adapter, kept in the database so every dispatcher (threads, processes,
machines) sees the same one; every change of state is appended to ``breaker_transitions`` and logged.

    closed ──(N consecutive transport failures)──► open ──(cool-down over)──► half_open
      ▲                                             ▲                           │ ONE probe message
      └────────────(probe succeeded)────────────────┼───────(probe failed)──────┘

Transport failures are what the government side's availability causes: timeouts, 5xx, refused
connections, unknown outcomes. A business or schema rejection is a success for the breaker: the
transport worked. The cool-down doubles each time a probe fails (up to ``max_cooldown_seconds``).
Only one dispatcher at a time holds the probe (a lease, ``probe_until``), so half-open really lets
one message through.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from gateway.store.models import Breaker, BreakerTransition

log = logging.getLogger("gateway.breaker")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
_PEEK = select(Breaker.state, Breaker.failures).where(Breaker.adapter == bindparam("adapter"))


@dataclass(frozen=True)
class BreakerPolicy:
    threshold: int = 5                     # consecutive transport failures that open the circuit
    cooldown_seconds: float = 30.0         # open → half-open after this (doubles per failed probe)
    max_cooldown_seconds: float = 600.0
    probe_lease_seconds: float = 60.0      # a probe not recorded by then may be taken by another

    def cooldown(self, opened: int) -> float:
        return min(self.max_cooldown_seconds, self.cooldown_seconds * 2 ** max(0, min(opened - 1, 30)))


@dataclass(frozen=True)
class Gate:
    state: str          # the breaker's state once the gate was passed
    limit: int          # how many rows may be claimed now (0: the circuit is open)
    probe: bool = False # this dispatcher holds the half-open probe
    retry_at: datetime | None = None


class Breakers:
    def __init__(self, policy: BreakerPolicy, owner: str):
        self.policy = policy
        self.owner = owner

    # -- reading and locking ------------------------------------------------------------------
    def row(self, session, adapter: str, now: datetime, lock: bool = True) -> Breaker:
        stmt = select(Breaker).where(Breaker.adapter == adapter)
        if lock and session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = session.scalar(stmt)
        if row is not None:
            return row
        row = Breaker(adapter=adapter, state=CLOSED, failures=0, opened=0, updated_at=now)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:            # another dispatcher created it first
            row = session.scalar(stmt)
        return row

    @staticmethod
    def peek(session, adapter: str) -> tuple[str, int] | None:
        """The breaker's (state, consecutive failures) as plain values, without a lock; None before
        its row exists."""
        row = session.execute(_PEEK, {"adapter": adapter}).first()
        return (row[0], row[1]) if row is not None else None

    def state(self, session, adapter: str) -> str | None:
        """The breaker's state read without a lock (None before its row exists): a closed circuit's
        gate lets a whole batch through and writes nothing, so a claim may go ahead on this read."""
        peek = self.peek(session, adapter)
        return peek[0] if peek is not None else None

    # -- gate: may this dispatcher send now, and how much? -------------------------------------
    def gate(self, session, adapter: str, now: datetime, batch: int) -> Gate:
        b = self.row(session, adapter, now)
        if b.state == CLOSED:
            return Gate(CLOSED, batch)
        if b.state == OPEN:
            if b.retry_at is not None and now < b.retry_at:
                return Gate(OPEN, 0, retry_at=b.retry_at)
            self._transition(session, b, HALF_OPEN, "cool-down over: probing with one message", now)
        # half-open: one probe at a time
        if b.probe_until is not None and now < b.probe_until and b.probe_owner != self.owner:
            return Gate(HALF_OPEN, 0, retry_at=b.probe_until)
        b.probe_owner = self.owner
        b.probe_until = now + timedelta(seconds=self.policy.probe_lease_seconds)
        b.updated_at = now
        return Gate(HALF_OPEN, 1, probe=True)

    def release_probe(self, session, adapter: str, now: datetime) -> None:
        """The probe holder had nothing to send: let the next round (anyone's) probe instead."""
        b = self.row(session, adapter, now)
        if b.state == HALF_OPEN and b.probe_owner == self.owner:
            b.probe_owner, b.probe_until, b.updated_at = None, None, now

    # -- recording outcomes --------------------------------------------------------------------
    def record(self, session, adapter: str, now: datetime, failure: str | None) -> str:
        """Record one send's transport outcome (``failure`` None = the transport worked); returns
        the state afterwards."""
        if failure is None and self.peek(session, adapter) == (CLOSED, 0):
            return CLOSED                # the common case: nothing to write, no lock taken
        b = self.row(session, adapter, now)
        b.updated_at = now
        if failure is None:
            b.failures = 0
            if b.state == HALF_OPEN:
                b.opened = 0
                b.probe_owner = b.probe_until = b.retry_at = None
                self._transition(session, b, CLOSED, "probe succeeded", now)
            return b.state
        b.failures += 1
        b.last_error = failure[:2000]
        if b.state == HALF_OPEN:
            self._open(session, b, f"probe failed: {failure}", now)
        elif b.state == CLOSED and b.failures >= self.policy.threshold:
            self._open(session, b, f"{b.failures} consecutive transport failures; last: {failure}", now)
        return b.state

    def _open(self, session, b: Breaker, reason: str, now: datetime) -> None:
        b.opened += 1
        b.retry_at = now + timedelta(seconds=self.policy.cooldown(b.opened))
        b.probe_owner = b.probe_until = None
        self._transition(session, b, OPEN, f"{reason} (cool-down until {b.retry_at.isoformat()})", now)

    def _transition(self, session, b: Breaker, to: str, reason: str, now: datetime) -> None:
        before = b.state
        b.state, b.updated_at = to, now
        session.add(BreakerTransition(adapter=b.adapter, from_state=before, to_state=to, reason=reason[:4000],
                                      owner=self.owner, at=now))
        level = logging.WARNING if to == OPEN else logging.INFO
        log.log(level, "circuit breaker %s: %s -> %s (%s) by %s", b.adapter, before, to, reason, self.owner)


def snapshot(session) -> list[dict]:
    """Every breaker as plain data, for the status CLI and endpoint."""
    rows = session.scalars(select(Breaker).order_by(Breaker.adapter)).all()
    return [{"adapter": b.adapter, "state": b.state, "consecutive_failures": b.failures,
             "retry_at": _iso(b.retry_at), "probe_owner": b.probe_owner, "probe_until": _iso(b.probe_until),
             "last_error": b.last_error, "updated_at": _iso(b.updated_at)} for b in rows]


def transitions(session, adapter: str | None = None, limit: int = 50) -> list[dict]:
    stmt = select(BreakerTransition).order_by(BreakerTransition.id.desc()).limit(limit)
    if adapter is not None:
        stmt = stmt.where(BreakerTransition.adapter == adapter)
    rows = list(reversed(session.scalars(stmt).all()))
    return [{"adapter": t.adapter, "from": t.from_state, "to": t.to_state, "reason": t.reason, "owner": t.owner,
             "at": _iso(t.at)} for t in rows]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
