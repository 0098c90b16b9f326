"""Group commit for single orders: the orders one process is asked to store at the same time are stored
as one batch, in one plan and one write transaction, and each request is answered with its own result.

Why (docs/performance.md "Session 7: group commit for single orders"): an order stored alone costs about
twice its share of a batch: two transactions, a dozen statements, the audit chain's head and a commit
with its fsync are paid per call, and signing one order's messages between database work runs colder
than signing many. A platform posting orders one by one from many checkout threads pays that on every
order; grouped, the threads of a gunicorn worker share it.

How: the first caller for a tenant leads; callers arriving while a group is stored queue behind it. The
leader stores the queue's first ``max_group`` bodies (its own first among them: the queue is first come,
first served) with ``run`` (``submit_batch``), hands every waiter its item, then wakes the oldest waiter
left, which leads the next group. Nobody waits for a timer: a caller alone is stored at once, exactly as
before; only callers that would have waited for the write lock anyway are grouped.

What stays as it was:
- durable before acknowledged: every caller returns after its group's commit;
- the items are independent (``submit_batch``): an invalid order is refused alone, the others stored;
- an order that meets its twin in the same group (the same order number twice: a client's retry racing
  its first try) is stored again alone after the group, so it is answered from what the group stored
  (200 the same body, 409 another) exactly as if the two calls had not met;
- an error that is not an item's own (a bug, a lost database) fails the group's callers only if each of
  them, stored alone again, fails too: one hostile order cannot take its neighbours down with it;
- a group cut short (the process stopping) still wakes each of its callers, with an error, and the
  tenant's queue is handed on: nobody waits for ever, the next caller is stored.
Groups are per tenant (a batch is one tenant's); different tenants' groups run side by side.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .orders import BatchItem, OrderConflict

Run = Callable[[str, list], list[BatchItem]]      # (tenant id, bodies) -> one item per body, in order


@dataclass(eq=False)
class _Call:
    body: Any
    wake: threading.Event = field(default_factory=threading.Event)
    item: BatchItem | None = None
    error: BaseException | None = None

    @property
    def answered(self) -> bool:
        return self.item is not None or self.error is not None


class GroupCommit:
    """``submit(tenant_id, body) -> BatchItem``: the body stored with whatever else is waiting."""

    def __init__(self, run: Run, max_group: int = 16):
        if max_group < 1:
            raise ValueError("max_group must be at least 1")
        self.run = run
        self.max_group = max_group
        self._lock = threading.Lock()
        self._queues: dict[str, list[_Call]] = {}      # tenant id -> calls not yet taken into a group
        self._led: set[str] = set()                    # tenants whose queue has a leader
        self.groups = 0                                # groups stored (a measure for tests and benchmarks)

    def submit(self, tenant_id: str, body) -> BatchItem:
        call = _Call(body)
        with self._lock:
            self._queues.setdefault(tenant_id, []).append(call)
            lead = tenant_id not in self._led
            self._led.add(tenant_id)
        if not lead:
            call.wake.wait()             # answered, or handed the lead
        if not call.answered:
            self._lead(tenant_id, call)
        if call.error is not None:
            raise call.error
        assert call.item is not None
        return call.item

    def _lead(self, tenant_id: str, me: _Call) -> None:
        try:
            while not me.answered:       # once: the queue is first come, first served, so ``me`` is in it
                with self._lock:
                    queue = self._queues[tenant_id]
                    group = queue[:self.max_group]
                    del queue[:self.max_group]
                try:
                    self._store(tenant_id, group)
                finally:                 # whatever happened, nobody of the group waits for ever
                    for call in group:
                        if not call.answered:      # the storing was cut short (the process stopping)
                            call.error = RuntimeError("the order's group was not stored to the end")
                        if call is not me:
                            call.wake.set()
        finally:                         # and the tenant's queue is never left without a leader
            with self._lock:
                queue = self._queues[tenant_id]
                successor = queue[0] if queue else None
                if successor is None:
                    del self._queues[tenant_id]
                    self._led.discard(tenant_id)
            if successor is not None:
                successor.wake.set()     # not answered: it leads the next group

    def _store(self, tenant_id: str, group: list[_Call]) -> None:
        self.groups += 1
        try:
            items = self.run(tenant_id, [call.body for call in group])
        except Exception as exc:         # not an item's own: find whose it is by storing each alone
            if len(group) == 1:
                group[0].error = exc
                return
            for call in group:
                self._store(tenant_id, [call])
            return
        for call, item in zip(group, items, strict=True):
            call.item = item
        if len(group) > 1:
            for call, item in zip(group, items, strict=True):
                if isinstance(item.error, OrderConflict):     # its twin may be in this group: alone again
                    self._store(tenant_id, [call])

