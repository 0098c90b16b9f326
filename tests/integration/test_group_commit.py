"""Group commit (gateway/service/group_commit.py): single orders a process is asked to store at the same
time are stored as one batch, and every caller gets its own answer, exactly as if it had been alone —
201 with its own order, 200 for a body stored before, 409 for a number used with another body, 422 for
its own problems — only after the group's commit. On SQLite and PostgreSQL, with the real gateway; the
grouping itself (first come first served, the bound, who leads, a failure that is not an item's own)
with a stand-in for ``submit_batch``."""
from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import select

from gateway.adapters.sandbox import SandboxGovernment
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.domain.problems import OrderInvalid
from gateway.ports import FixedClock, UuidGenerator
from gateway.service.group_commit import GroupCommit
from gateway.service.orders import BatchItem, OrderConflict, Submitted
from gateway.store import models as m
from tests.helpers import START, add_tenant
from tests.hostile import order, renumbered, row_counts


def _gateway(tmp_path, db_url, key, **settings):
    clock = FixedClock(START)
    sandbox = SandboxGovernment(clock=clock, ids=UuidGenerator())
    gw = bootstrap(Settings(instance_dir=tmp_path / "instance", database_url=db_url, auto_migrate="always",
                            **settings), clock=clock, ids=UuidGenerator(), adapters={"sandbox": sandbox}, key=key)
    tenant_id, _ = add_tenant(gw)
    return gw, tenant_id


@pytest.fixture
def grouped(tmp_path, db_url, signing_key):
    gw, tenant_id = _gateway(tmp_path, db_url, signing_key)
    yield gw, tenant_id
    gw.engine.dispose()


def _queued(groups: GroupCommit, tenant_id: str) -> int:
    with groups._lock:
        return len(groups._queues.get(tenant_id, ()))


def held_first_group(groups: GroupCommit, tenant_id: str, waiting: int):
    """Make the first group wait until ``waiting`` more callers are queued behind it (so they form the next
    group); the bodies each group was run with are recorded."""
    run, seen, first = groups.run, [], threading.Event()

    def gated(tid, bodies):
        if not first.is_set():
            first.set()
            deadline = time.monotonic() + 30
            while _queued(groups, tenant_id) < waiting and time.monotonic() < deadline:
                time.sleep(0.005)
        seen.append(list(bodies))
        return run(tid, bodies)

    groups.run = gated
    return seen


def submit_all(gw, tenant_id: str, bodies: list[str]) -> list:
    """Submit every body from its own thread, the first one first; each result (Submitted or the exception),
    and whether the caller's order was already readable in a new transaction when its answer came."""
    out: list = [None] * len(bodies)
    stored_on_return: list = [None] * len(bodies)

    def one(i):
        try:
            out[i] = gw.submit(tenant_id, bodies[i])
        except Exception as exc:          # noqa: BLE001 - the answer under test
            out[i] = exc
            return
        with gw.uow_factory() as uow:
            stored_on_return[i] = uow.orders.get(tenant_id, out[i].order_id) is not None

    first = threading.Thread(target=one, args=(0,))
    first.start()
    while _queued(gw.groups, tenant_id) == 0 and first.is_alive() and not gw.groups.groups:
        time.sleep(0.001)
    rest = [threading.Thread(target=one, args=(i,)) for i in range(1, len(bodies))]
    for t in rest:
        t.start()
    for t in [first, *rest]:
        t.join(120)
    return out, stored_on_return


def _text(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)


def _numbers(gw, tenant_id: str) -> dict[str, str]:
    """order id -> order number, as stored."""
    with gw.uow_factory() as uow:
        return dict(uow.session.execute(select(m.Order.id, m.Order.order_no).where(m.Order.tenant_id == tenant_id)).all())


def test_orders_waiting_together_are_one_group_each_answered_with_its_own_order(grouped):
    gw, tenant_id = grouped
    bodies = [_text(renumbered(order(), "cbec-import", f"G{i}")) for i in range(7)]
    seen = held_first_group(gw.groups, tenant_id, waiting=6)
    results, stored_on_return = submit_all(gw, tenant_id, bodies)

    assert [len(group) for group in seen] == [1, 6]            # the first alone, the six that waited together
    assert all(isinstance(r, Submitted) and r.created for r in results), results
    assert stored_on_return == [True] * 7                      # durable before answered
    numbers = _numbers(gw, tenant_id)
    assert [numbers[r.order_id] for r in results] == [json.loads(b)["order_no"] for b in bodies]
    assert len({r.order_id for r in results}) == 7
    for r in results:                                          # each its own filings, all four CEB messages
        assert {"CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message"} <= set(r.filing_ids)
    counts = row_counts(gw)
    assert counts["orders"] == 7 and counts["buyer_annual_amounts"] == 7


def test_an_invalid_order_in_a_group_is_refused_alone(grouped):
    gw, tenant_id = grouped
    bad = renumbered(order(), "cbec-import", "BAD")
    bad["lines"][0]["quantity"] = "-1"
    bodies = [_text(renumbered(order(), "cbec-import", f"V{i}")) for i in range(3)]
    bodies.insert(2, _text(bad))
    seen = held_first_group(gw.groups, tenant_id, waiting=3)
    results, _ = submit_all(gw, tenant_id, bodies)

    assert [len(group) for group in seen] == [1, 3]
    assert isinstance(results[2], OrderInvalid) and results[2].problems
    assert all(isinstance(r, Submitted) and r.created for i, r in enumerate(results) if i != 2), results
    assert row_counts(gw)["orders"] == 3                       # nothing of the refused one


def test_twins_in_one_group_are_answered_as_if_they_had_not_met(grouped):
    """A client's retry racing its first try (the same body) gets the stored order back, 200; the same number
    with another body gets 409 — not "appears twice in this batch"."""
    gw, tenant_id = grouped
    same = _text(renumbered(order(), "cbec-import", "T1"))
    other = renumbered(order(), "cbec-import", "T2")
    changed = json.loads(json.dumps(other))
    changed["note"] = "changed"
    bodies = [_text(renumbered(order(), "cbec-import", "T0")), same, same, _text(other), _text(changed)]
    seen = held_first_group(gw.groups, tenant_id, waiting=4)
    results, _ = submit_all(gw, tenant_id, bodies)

    assert [len(group) for group in seen[:2]] == [1, 4]        # the twins met in one group
    twins = results[1:3]                                       # which of them came first is the threads' race
    assert sorted(t.created for t in twins) == [False, True]
    assert twins[0].order_id == twins[1].order_id and twins[0].filing_ids == twins[1].filing_ids
    stored = [r for r in results[3:] if isinstance(r, Submitted)]
    refused = [r for r in results[3:] if isinstance(r, OrderConflict)]
    assert len(stored) == 1 and stored[0].created and len(refused) == 1
    assert stored[0].order_id in str(refused[0]) and "different content" in str(refused[0])
    assert row_counts(gw)["orders"] == 3                       # T0, T1 and T2


def test_group_max_1_stores_each_order_alone(tmp_path, sqlite_url, signing_key):
    gw, tenant_id = _gateway(tmp_path, sqlite_url, signing_key, intake_group_max=1)
    try:
        assert gw.groups is None
        sub = gw.submit(tenant_id, _text(renumbered(order(), "cbec-import", "A1")))
        assert sub.created and row_counts(gw)["orders"] == 1
    finally:
        gw.engine.dispose()


# ---- the grouping itself, with a stand-in for submit_batch ------------------------------------------------

class Recorder:
    """``run`` for GroupCommit: records each group; the first group waits for ``gate``; a body "boom"
    raises (an error that is not an item's own), "twin" comes back as an OrderConflict when grouped."""

    def __init__(self):
        self.groups: list[list[str]] = []
        self.gate = threading.Event()

    def __call__(self, tenant_id, bodies):
        if not self.groups:
            self.gate.wait(30)
        self.groups.append(list(bodies))
        if "boom" in bodies:
            raise RuntimeError("not an item's own error")
        return [BatchItem(i, error=OrderConflict("twice") if b == "twin" and len(bodies) > 1 else None,
                          submitted=None if b == "twin" and len(bodies) > 1 else Submitted(f"{tenant_id}:{b}", {}, True))
                for i, b in enumerate(bodies)]


def _run_calls(groups: GroupCommit, calls: list[tuple[str, str]], recorder: Recorder, queued: int):
    """Start every (tenant, body) call in order; once ``queued`` wait behind the held first group, let it go."""
    out: dict[int, object] = {}

    def one(i, tenant, body):
        try:
            out[i] = groups.submit(tenant, body)
        except BaseException as exc:   # noqa: BLE001 - the answer under test (a stopping process's too)
            out[i] = exc

    threads = []
    for i, (tenant, body) in enumerate(calls):
        t = threading.Thread(target=one, args=(i, tenant, body))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 10
        while i == 0 and not groups._led and time.monotonic() < deadline:
            time.sleep(0.001)
    deadline = time.monotonic() + 10
    while sum(_queued(groups, t) for t in {c[0] for c in calls}) < queued and time.monotonic() < deadline:
        time.sleep(0.001)
    recorder.gate.set()
    for t in threads:
        t.join(30)
    return [out[i] for i in range(len(calls))]


def test_groups_are_bounded_and_first_come_first_served():
    recorder = Recorder()
    groups = GroupCommit(recorder, max_group=2)
    bodies = [f"o{i}" for i in range(6)]
    results = _run_calls(groups, [("t", b) for b in bodies], recorder, queued=5)
    assert recorder.groups == [["o0"], ["o1", "o2"], ["o3", "o4"], ["o5"]]
    assert [r.submitted.order_id for r in results] == [f"t:{b}" for b in bodies]
    assert not groups._queues and not groups._led             # nothing left behind, nobody leading


def test_a_failure_not_an_items_own_fails_only_the_order_that_causes_it():
    recorder = Recorder()
    groups = GroupCommit(recorder)
    results = _run_calls(groups, [("t", "a"), ("t", "b"), ("t", "boom"), ("t", "c")], recorder, queued=3)
    assert isinstance(results[2], RuntimeError)
    assert [r.submitted.order_id for i, r in enumerate(results) if i != 2] == ["t:a", "t:b", "t:c"]
    assert recorder.groups == [["a"], ["b", "boom", "c"], ["b"], ["boom"], ["c"]]   # the group, then each alone


def test_a_conflict_met_in_a_group_is_asked_again_alone():
    recorder = Recorder()
    groups = GroupCommit(recorder)
    results = _run_calls(groups, [("t", "a"), ("t", "twin"), ("t", "b")], recorder, queued=2)
    assert results[1].submitted.order_id == "t:twin"           # the answer of the call alone
    assert recorder.groups == [["a"], ["twin", "b"], ["twin"]]


def test_tenants_are_grouped_apart():
    recorder = Recorder()
    groups = GroupCommit(recorder)
    results = _run_calls(groups, [("t1", "a"), ("t1", "b"), ("t2", "c"), ("t1", "d")], recorder, queued=2)
    assert [r.submitted.order_id for r in results] == ["t1:a", "t1:b", "t2:c", "t1:d"]
    assert ["b", "d"] in recorder.groups and ["c"] in recorder.groups


class _Stop(BaseException):
    """What a stopping process raises through the storing (not an error to find an owner for)."""


def test_a_group_cut_short_wakes_its_callers_and_leaves_the_queue_led():
    recorder = Recorder()
    calls = {"n": 0}

    def run(tenant_id, bodies):
        calls["n"] += 1
        if calls["n"] == 2:                       # the second group: the process is stopping
            raise _Stop()
        return recorder(tenant_id, bodies)

    groups = GroupCommit(run)
    results = _run_calls(groups, [("t", "a"), ("t", "b"), ("t", "c")], recorder, queued=2)
    assert results[0].submitted.order_id == "t:a"
    assert {type(r) for r in results[1:]} <= {_Stop, RuntimeError} and any(isinstance(r, _Stop) for r in results[1:])
    assert not groups._queues and not groups._led               # no leader left behind: the next call runs
    assert groups.submit("t", "d").submitted.order_id == "t:d"
