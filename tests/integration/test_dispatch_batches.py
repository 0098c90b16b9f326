"""The dispatcher works in batches (SQLite and PostgreSQL): a round's sends are claimed with a fixed
number of statements and recorded in one transaction whatever the batch size, receipts of a poll are
applied in one transaction, and each order's combined status is recomputed once per batch; the
results are the same as one by one (every order released, every message accepted once)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select

from gateway.adapters.sandbox import government
from gateway.ports import OutgoingMessage
from gateway.service.dispatch import RoundResult
from gateway.store import models as m
from tests.delivery_helpers import all_final, drive, line_gateway, many_orders, submit_many
from tests.helpers import START, add_tenant, valid_fixtures


class Counter:
    """Statements and commits on an engine."""

    def __init__(self, engine):
        self.statements = self.commits = 0
        self.texts: list[str] = []
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, conn, cursor, statement, parameters, context, executemany):
        self.statements += 1
        self.texts.append(statement)

    def _commit(self, conn):
        self.commits += 1

    def reset(self):
        self.statements = self.commits = 0
        self.texts = []


def _send_round(gw, counter, n_orders: int, start: int) -> tuple[int, int, int]:
    """(filings sent, statements other than the audit records' inserts, commits) of one send round."""
    tenant, _ = add_tenant(gw, name=f"T{start}")
    submit_many(gw, tenant, many_orders(n_orders, start))
    counter.reset()
    r = RoundResult()
    gw.dispatcher.send_due(r)
    audit_inserts = sum(t.startswith("INSERT INTO audit_events") for t in counter.texts)
    return r.sent, counter.statements - audit_inserts, counter.commits


def test_a_round_of_sends_costs_the_same_statements_and_commits_for_4_or_12_orders(tmp_path, db_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    counter = Counter(gw.engine)
    small = _send_round(gw, counter, 4, 0)
    drive(gw, clock)
    large = _send_round(gw, counter, 12, 100)
    assert small[0] >= 4 and large[0] >= 3 * small[0] - 2        # the sequence-1 filings of every order
    assert large[2] == 2 and small[2] <= 3    # claim (a closed breaker read in it), one record; the very
    #                                           first round also creates the breaker (its gate: one more)
    claims = [t for t in counter.texts if t.startswith("UPDATE outbox SET attempts=(outbox.attempts +")]
    assert len(claims) == 1                                       # one UPDATE marks the whole batch in flight
    assert large[1] <= small[1] + 2, (small, large)              # not one more round trip per filing


def test_receipts_of_a_poll_are_applied_in_one_transaction_with_each_order_recomputed_once(
        tmp_path, db_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    order_ids = submit_many(gw, tenant, many_orders(6))
    while True:
        r = RoundResult()
        gw.dispatcher.send_due(r)
        if not r.sent:
            break
    counter = Counter(gw.engine)
    r = RoundResult()
    gw.dispatcher.poll_receipts(r)
    assert r.receipts >= 6 and r.applied >= 6
    assert counter.commits <= 3                                   # cursor read, the batch, the cursor
    order_reads = [t for t in counter.texts if "FROM filings" in t and "filings.order_id IN" in t]
    assert len(order_reads) == 1                                  # every order's filings in one statement
    drive(gw, clock)
    assert all_final(gw)
    assert {gw.order(tenant, oid)["status"] for oid in order_ids} == {"released"}
    assert all(line.government.deliveries(g) == 1 for g in line.government.received())
    with gw.uow_factory() as uow:             # the audit chain still verifies record by record
        events = uow.session.scalars(select(m.AuditEvent).order_by(m.AuditEvent.id)).all()
        assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))


def test_the_sandbox_keeps_its_memory_bounded_and_still_answers_duplicates(tmp_path, sqlite_url, signing_key,
                                                                             monkeypatch):
    monkeypatch.setattr(government, "MAX_MESSAGES", 10)
    monkeypatch.setattr(government, "MAX_SEEN", 30)
    monkeypatch.setattr(government, "MAX_RECEIPTS", 20)
    gw, line, clock = line_gateway(tmp_path, sqlite_url, signing_key)
    tenant, _ = add_tenant(gw)
    order_ids = submit_many(gw, tenant, many_orders(8))          # 50 messages and more
    drive(gw, clock)
    assert {gw.order(tenant, oid)["status"] for oid in order_ids} == {"released"}
    gov = line.government
    assert len(gov._submissions) <= 30
    assert gov._log_base > 0 and len(gov._log) <= 2 * 20       # the cap, and what the last poll released
    assert sum(1 for s in gov._submissions.values() if s.body) < 30
    newest = next(reversed(gov._submissions))
    again = gov.send(OutgoingMessage(newest, "CEB311Message", b"<resent/>"))
    assert again.duplicate and gov.lookup(newest).accepted


def _receipt_polls(gw, clock, counter, orders: list[dict], name: str) -> tuple[list[int], int]:
    """Send every due filing, then poll receipts, until all is final: the statements of each poll
    (each poll holds one batch of receipts), and the receipt entries applied in all."""
    tenant, _ = add_tenant(gw, name=name)
    submit_many(gw, tenant, orders)
    polls, applied = [], 0
    for _ in range(40):
        while True:
            r = RoundResult()
            gw.dispatcher.send_due(r)
            if not r.sent:
                break
        counter.reset()
        r = RoundResult()
        gw.dispatcher.poll_receipts(r)
        if r.receipts:
            polls.append(counter.statements)
            applied += r.applied
        if all_final(gw):
            return polls, applied
        clock.advance(5)
    raise AssertionError("not final after 40 polls")


def test_a_batch_of_receipts_costs_the_same_statements_for_4_or_12_orders(tmp_path, db_url, signing_key):
    """Receipts, their entries, outcomes, tax bills (CEB816: the inventory's invtNo, the order's tax record)
    and the orders' statuses are read and written set-wise: no statement per receipt or per entry."""
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    counter = Counter(gw.engine)
    one_kind = tuple(p.name for p in valid_fixtures() if p.name != "1210-single-line.json")
    small = _receipt_polls(gw, clock, counter, many_orders(4, 0, skip=one_kind), "T4")
    large = _receipt_polls(gw, clock, counter, many_orders(12, 100, skip=one_kind), "T12")
    assert large[1] == 3 * small[1] > 0                           # every entry applied, three times as many
    assert len(small[0]) == len(large[0]) >= 3                    # the same stages, each one poll
    assert large[0] == small[0], (small, large)                   # not one more statement per receipt
    with gw.uow_factory() as uow:
        bills = uow.session.scalars(select(m.ReceiptEvent).where(m.ReceiptEvent.message_type == "CEB816Message")).all()
        assert len(bills) == 16 and {b.outcome for b in bills} == {"applied"}   # every tax bill matched once
        records = {f.id: f for f in uow.session.scalars(select(m.Filing).where(m.Filing.message_type == "TaxRecord"))}
        assert {b.filing_id for b in bills} == set(records)


def _index_scans(plan: dict, alias: str = "") -> list[tuple[str, str]]:
    """(alias, index name) of every index scan in an EXPLAIN (FORMAT JSON) plan (a bitmap index scan: its
    heap scan's alias)."""
    alias = plan.get("Alias", alias)
    found = [(alias, plan["Index Name"])] if "Index Name" in plan else []
    for child in plan.get("Plans", []):
        found += _index_scans(child, alias)
    return found


def test_the_claim_finds_an_orders_earlier_filings_by_order_without_statistics(tmp_path, postgres_url, signing_key):
    """PostgreSQL before its first ANALYZE of the tables (a new database, a burst before autovacuum): the
    claim's "no earlier unsent filing of the same order" looks up each row's order, not the tenant's whole
    index (it did with ix_filings_tenant_id: 100 ms a claim at ~1,000 filings; migration 0039)."""
    gw, _line, _clock = line_gateway(tmp_path, postgres_url, signing_key)
    tenant, _ = add_tenant(gw)
    submit_many(gw, tenant, many_orders(30))
    stmt = gw.dispatcher.sender._claim_statement("postgresql").compile(dialect=gw.engine.dialect)
    try:
        with gw.engine.connect() as conn:
            (plan,), = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(stmt),
                                            {**stmt.params, "adapter": "sandbox", "now": START + timedelta(days=1),
                                             "limit": 100}).one()
    finally:
        gw.engine.dispose()
    scans = _index_scans(plan["Plan"])
    earlier = [index for alias, index in scans if alias != "filings" and alias.startswith("filings")]
    assert earlier and set(earlier) <= {"ix_filings_order_id", "ix_filings_tenant_order_sequence"}, scans


def test_receipts_find_filings_by_message_id_without_walking_the_outbox(tmp_path, postgres_url, signing_key):
    """Unanalysed PostgreSQL again: the receipts' lookup of a batch's message ids reads each filing's outbox
    row by its filing (the unique index), never the channel's outbox rows one by one (a join did: 3.3 ms
    for 100 ids at ~1,000 filings, growing with the table)."""
    from gateway.service.delivery.receipt_batch import _BY_GUID

    gw, _line, _clock = line_gateway(tmp_path, postgres_url, signing_key)
    tenant, _ = add_tenant(gw)
    submit_many(gw, tenant, many_orders(30))
    gw.dispatcher.send_due(RoundResult())
    try:
        with gw.engine.connect() as conn:
            guids = list(conn.execute(select(m.Filing.guid).limit(50)).scalars())
            stmt = _BY_GUID.where(m.Filing.guid.in_(guids)).compile(dialect=gw.engine.dialect,
                                                                      compile_kwargs={"render_postcompile": True})
            (plan,), = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(stmt), stmt.params).one()
    finally:
        gw.engine.dispose()
    outbox = [index for alias, index in _index_scans(plan["Plan"]) if alias == "outbox"]
    assert outbox == ["uq_outbox_filing_id"], _index_scans(plan["Plan"])
