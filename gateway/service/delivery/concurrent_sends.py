"""Sending the rows of one claimed batch, up to N at a time (sender.py ``send_due``).

Why the rows of one batch may go out together, in any order: the claim leaves out every row whose
order still has an earlier unsent filing (sender.py ``_claim_statement``: ``earlier_unsent``), and
``_blockers`` holds back ("wait") any row whose order has an earlier filing not yet sent; so no row
of a batch is a later step of another row's order, and nothing in a batch has to arrive before
anything else in it. The order between batches (an order's next filing only once its earlier ones
were recorded sent) is untouched: a batch is recorded before the next claim.

What stays as it was with one send at a time:

- a send starts only while ``may_start()`` holds (the first half of the lease); the first always starts;
- a transport failure (RETRY / UNKNOWN) stops new starts at once; the sends still in flight are waited
  for and recorded together with everything done before (one ``record`` call), so the breaker learns
  the failure before the next send starts; if the breaker is then OPEN, the rows not started are
  released; otherwise sending goes on;
- ``record`` (the database: fencing by claim token, one transaction per call) and ``release`` run in
  the dispatcher's own thread; worker threads only send (``adapter.lookup`` / ``adapter.send`` through
  ``send``) and add to a ``Tally`` of their own, never to the round's result;
- the same guid on every retry and lookup-before-resend live in ``send`` (sender.py ``_send_one``).

Concurrency only for adapters that declare they can take it (``concurrent_sends = True``: http and
soap, one ``requests.Session`` per thread); every other adapter (the in-process sandbox, DXP folders
and AMQP), and a concurrency of 1, sends in the calling thread one after the other, as before.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .breaker import OPEN
from .outcomes import Claimed, Outcome, Sent

log = logging.getLogger("gateway.dispatch")

FAILURES = (Outcome.RETRY, Outcome.UNKNOWN)     # transport failures: the breaker must learn them now

Send = Callable[[Claimed, Any], Sent]           # (row, counters) -> its outcome; counters: result or Tally
Record = Callable[[list[Sent]], str]            # outcomes -> the breaker's state after recording them
Release = Callable[[list[Claimed]], None]


class Tally:
    """The round counters one send adds (``tally.looked_up += 1``), kept apart in its worker thread
    and added to the round's result in the dispatcher's thread."""

    counts: dict[str, int]

    def __init__(self) -> None:
        object.__setattr__(self, "counts", {})

    def __getattr__(self, name: str) -> int:
        return self.counts.get(name, 0)

    def __setattr__(self, name: str, value: int) -> None:
        self.counts[name] = value

    def add_to(self, result) -> None:
        for name, value in self.counts.items():
            setattr(result, name, getattr(result, name) + value)


class SendPool:
    """At most ``concurrency`` sends of one batch in flight, on worker threads kept between rounds (a
    channel's per-thread connections stay open)."""

    def __init__(self, concurrency: int = 1):
        if not 1 <= concurrency <= 64:
            raise ValueError(f"send concurrency must be 1..64, got {concurrency}")
        self.concurrency = concurrency
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def workers_for(self, adapter) -> int:
        return self.concurrency if getattr(adapter, "concurrent_sends", False) else 1

    def run(self, items: Sequence[Claimed], adapter, send: Send, *, may_start: Callable[[], bool],
            record: Record, release: Release, result) -> None:
        """Send ``items``; record their outcomes and release the rows not started (module docstring)."""
        workers = min(self.workers_for(adapter), len(items))
        if workers <= 1:
            self._one_by_one(items, send, may_start, record, release, result)
        else:
            self._concurrently(items, workers, send, may_start, record, release, result)

    @staticmethod
    def _one_by_one(items, send: Send, may_start, record: Record, release: Release, result) -> None:
        done: list[Sent] = []
        for i, item in enumerate(items):
            if i and not may_start():
                if done:
                    record(done)
                release(list(items[i:]))
                return
            done.append(send(item, result))
            if done[-1].outcome in FAILURES:        # the breaker must know now
                state = record(done)
                done = []
                if state == OPEN and i + 1 < len(items):
                    release(list(items[i + 1:]))
                    return
        if done:
            record(done)

    def _concurrently(self, items, workers: int, send: Send, may_start, record: Record, release: Release,
                      result) -> None:
        executor = self._pool()
        finished: queue.SimpleQueue = queue.SimpleQueue()   # (tally, sent, exception) as each send ends
        left = deque(items)
        in_flight = started = 0
        done: list[Sent] = []
        halted = False          # the first half of the lease is over: no more starts
        error: BaseException | None = None

        def one(item: Claimed, tally: Tally) -> None:
            try:
                finished.put((tally, send(item, tally), None))
            except BaseException as exc:    # noqa: BLE001  (handed to the dispatcher's thread, raised there)
                finished.put((tally, None, exc))

        def collect() -> bool:
            """The next send to end, into ``done``; True if it was a transport failure."""
            nonlocal in_flight, error
            tally, sent, exc = finished.get()
            in_flight -= 1
            tally.add_to(result)
            if exc is not None:
                error = error or exc
                return True
            done.append(sent)
            return sent.outcome in FAILURES

        while left or in_flight:
            while left and in_flight < workers and not halted:
                if started and not may_start():
                    halted = True
                    break
                executor.submit(one, left.popleft(), Tally())
                in_flight += 1
                started += 1
            if not in_flight:
                break
            if not collect():
                continue
            # a transport failure (or a send that raised): no new start until it is recorded
            log.info("transport failure seen: no new send until the %d in flight are back and recorded",
                     in_flight)
            while in_flight:
                collect()
            state = record(done) if done else None
            done = []
            if error is not None or state == OPEN:
                break
        if done:
            record(done)
        if left:
            release(list(left))
        if error is not None:
            raise error

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None or self._pid != os.getpid():     # threads do not survive a fork
                self._executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="gateway-send")
                self._pid = os.getpid()
            return self._executor

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
