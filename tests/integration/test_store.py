"""Storage adapter on real databases: every test runs on SQLite and on PostgreSQL (see
tests/conftest.py); the SKIP LOCKED tests are PostgreSQL only."""
from __future__ import annotations

import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from gateway.store.db import code_heads, current_revision, make_engine, normalize_url, session_factory, upgrade
from gateway.store.models import ApiKey, AuditEvent, Base, Filing, Order, OutboxItem, Receipt
from gateway.store.tenants import create_tenant, hash_api_key, issue_api_key, revoke_api_key
from gateway.store.uow import UnitOfWork

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))  # Beijing time

TABLES = {
    "tenants", "api_keys", "orders", "filings", "outbox", "receipts", "receipt_events", "audit_events", "kv_cursors",
    "audit_chain_head", "audit_checkpoints", "auditors", "auditor_grants",  # 0006 (audit)
    "breakers", "breaker_transitions", "webhooks", "webhook_deliveries", "webhook_attempts",  # 0004 (delivery)
    "signing_keys", "payment_raw",  # 0005 (key store, 179 raw payment data)
    "buyer_annual_amounts",  # 0003 (CBEC annual amounts)
    "corrections", "order_versions",  # 0008 (corrections and reversals)
    "tenant_enterprises",  # 0032 (enterprise codes per tenant)
    "realtime179_calls",  # 0034 (179 calls, one upload per order and session)
    "idempotency_keys",  # 0013_api (Idempotency-Key answers)
}

# Exact bytes as a signer would produce them: UTF-8 Chinese, CR and CRLF line ends, a BOM,
# a NUL, and bytes that are not valid UTF-8 at all.
SIGNED = (
    b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\r\n'
    b"<ceb:CEB621Message>\r<ceb:goodsName>"
    + "婴儿奶粉 900g".encode()
    + b"</ceb:goodsName>\n<x>\x00\xff\xfe\x80</x>\r\n</ceb:CEB621Message>"
)


def new_id() -> str:
    return str(uuid.uuid4()).upper()


@pytest.fixture
def uow(migrated_engine) -> UnitOfWork:
    return UnitOfWork(session_factory(migrated_engine))


def add_tenant(uow: UnitOfWork, name: str = "Shop") -> tuple[str, str]:
    with uow:
        tenant, key = create_tenant(uow, name, "3301964J31", f"{name} Ltd", "DXPENT0000012345", now=T0)
        uow.commit()
    return tenant.id, key


def make_order(tenant_id: str, order_no: str = "SO-0001", platform_code: str = "3301963K69") -> Order:
    body = json.dumps({"orderNo": order_no, "goodsValue": "199.00", "buyer": "张三"}, ensure_ascii=False)
    return Order(
        id=new_id(),
        tenant_id=tenant_id,
        order_no=order_no,
        regime="1210",
        direction="import",
        platform_code=platform_code,
        body=body,
        normalized=body,
        status="received",
        cop_no=order_no[:20],
        received_at=T0,
        updated_at=T0,
    )


def make_filing(tenant_id: str, order_id: str, sequence: int = 1, signed: bytes = SIGNED) -> Filing:
    return Filing(
        id=new_id(),
        tenant_id=tenant_id,
        order_id=order_id,
        message_type="CEB621Message",
        agency="customs",
        guid=new_id(),
        sequence=sequence,
        state="signed",
        signed_bytes=signed,
        sha256=hashlib.sha256(signed).hexdigest(),
        business_key=f"inventory:3301963K69|3301964J31|SO-{sequence}",
        built_with=json.dumps({"schema": "CEB621 v1.0", "rules": "2026.1"}),
        created_at=T0,
        updated_at=T0,
    )


def add_order_with_filings(uow: UnitOfWork, tenant_id: str, n_filings: int = 1) -> tuple[str, list[str]]:
    with uow:
        order = uow.orders.add(make_order(tenant_id))
        filings = [uow.filings.add(make_filing(tenant_id, order.id, i + 1)) for i in range(n_filings)]
        uow.commit()
    return order.id, [f.id for f in filings]


# ---- migrations ------------------------------------------------------------------------------


def test_migrations_create_every_table_and_run_twice(db_url):
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        upgrade(engine)  # idempotent
        assert current_revision(engine) == code_heads()
        assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []  # models and migrations agree
    finally:
        engine.dispose()


def test_plain_postgresql_urls_are_rewritten_to_psycopg():
    assert normalize_url("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.sqlite3").drivername == "sqlite"


# ---- tenants and API keys --------------------------------------------------------------------


def test_tenant_and_api_key_round_trip(uow):
    tenant_id, key = add_tenant(uow)
    assert key.startswith("gw_") and len(key) > 40

    with uow:
        assert uow.api_keys.find_tenant(key).id == tenant_id
        assert uow.api_keys.find_tenant(key[:-1] + ("A" if key[-1] != "A" else "B")) is None  # same prefix
        assert uow.api_keys.find_tenant("gw_not-a-key-at-all") is None
        assert uow.api_keys.find_tenant("") is None
        (stored,) = uow.api_keys.for_tenant(tenant_id)
        assert stored.key_hash != key and key not in stored.key_hash
        assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest() == hash_api_key(key)
        assert stored.prefix == key[:8]
        second, second_key = issue_api_key(uow, tenant_id, "ci")
        assert revoke_api_key(uow, tenant_id, stored.id, now=T0)
        uow.commit()

    with uow:
        assert uow.api_keys.find_tenant(key) is None  # revoked
        assert uow.api_keys.find_tenant(second_key).id == tenant_id
        assert uow.session.get(ApiKey, stored.id).revoked_at == T0


def test_orders_are_scoped_by_tenant(uow):
    tenant_a, _ = add_tenant(uow, "A")
    tenant_b, _ = add_tenant(uow, "B")
    order_id, (filing_id,) = add_order_with_filings(uow, tenant_a)

    with uow:
        assert uow.orders.get(tenant_a, order_id).id == order_id
        assert uow.orders.get(tenant_b, order_id) is None
        assert uow.orders.find_by_number(tenant_a, "3301963K69", "SO-0001").id == order_id
        assert uow.orders.find_by_number(tenant_b, "3301963K69", "SO-0001") is None
        assert uow.filings.get(tenant_a, filing_id) is not None
        assert uow.filings.get(tenant_b, filing_id) is None
        assert [f.id for f in uow.filings.for_order(tenant_a, order_id)] == [filing_id]
        assert uow.filings.for_order(tenant_b, order_id) == []


def test_order_number_is_unique_per_tenant_and_platform(uow):
    tenant_a, _ = add_tenant(uow, "A")
    tenant_b, _ = add_tenant(uow, "B")
    with uow:
        uow.orders.add(make_order(tenant_a))
        uow.orders.add(make_order(tenant_b))  # same number, other tenant: fine
        uow.orders.add(make_order(tenant_a, platform_code="PLATFORM2"))  # other platform: fine
        uow.commit()

    with pytest.raises(IntegrityError):
        with uow:
            uow.orders.add(make_order(tenant_a))
            uow.commit()

    with uow:
        assert len(uow.session.scalars(select(Order)).all()) == 3


# ---- unit of work ------------------------------------------------------------------------------


def test_uncommitted_unit_of_work_leaves_nothing(uow):
    tenant_id, _ = add_tenant(uow)
    with uow:
        order = uow.orders.add(make_order(tenant_id))
        uow.audit.record(tenant_id, "order", order.id, "order.received", {"n": 1})
        uow.flush()  # even rows already sent to the database go away
    with uow:
        assert uow.orders.get(tenant_id, order.id) is None
        assert uow.session.scalars(select(AuditEvent).where(AuditEvent.subject_type == "order")).all() == []


def test_exception_inside_with_rolls_back(uow):
    tenant_id, _ = add_tenant(uow)
    with pytest.raises(RuntimeError, match="boom"):
        with uow:
            order = uow.orders.add(make_order(tenant_id))
            uow.flush()
            raise RuntimeError("boom")
    with uow:
        assert uow.orders.get(tenant_id, order.id) is None


def test_work_after_commit_is_rolled_back_unless_committed_again(uow):
    tenant_id, _ = add_tenant(uow)
    with uow:
        first_id = uow.orders.add(make_order(tenant_id, "SO-1")).id
        uow.commit()
        second_id = uow.orders.add(make_order(tenant_id, "SO-2")).id
    with uow:
        assert uow.orders.get(tenant_id, first_id) is not None
        assert uow.orders.get(tenant_id, second_id) is None


# ---- exact bytes -------------------------------------------------------------------------------


def test_signed_bytes_round_trip_byte_for_byte(uow):
    tenant_id, _ = add_tenant(uow)
    _, (filing_id,) = add_order_with_filings(uow, tenant_id)
    with uow:
        filing = uow.filings.get(tenant_id, filing_id)
        assert type(filing.signed_bytes) is bytes
        assert filing.signed_bytes == SIGNED
        assert hashlib.sha256(filing.signed_bytes).hexdigest() == filing.sha256
        assert [f.id for f in uow.filings.by_business_key(filing.business_key)] == [filing_id]
        assert uow.filings.by_guid(filing.guid).id == filing_id


def test_order_body_text_round_trips_exactly(uow):
    tenant_id, _ = add_tenant(uow)
    with uow:
        order = make_order(tenant_id)
        order.body = '{ "orderNo":"SO-0001",\r\n  "buyer": "张三", "price": 199.00 }'
        uow.orders.add(order)
        uow.commit()
    with uow:
        assert uow.orders.get(tenant_id, order.id).body == '{ "orderNo":"SO-0001",\r\n  "buyer": "张三", "price": 199.00 }'


def test_datetimes_come_back_aware_in_utc(uow):
    tenant_id, _ = add_tenant(uow)
    with uow:
        tenant = uow.tenants.get(tenant_id)
        assert tenant.created_at == T0
        assert tenant.created_at.utcoffset() == timedelta(0)
        with pytest.raises(Exception, match="naive"):
            uow.orders.add(make_order(tenant_id, "SO-naive")).received_at = datetime(2026, 1, 1)
            uow.flush()


# ---- receipts, audit, cursors ------------------------------------------------------------------


def test_receipts_add_raw_deduplicates_by_hash(uow):
    raw = b"<CEB622Message>\r\n<returnStatus>120</returnStatus>" + "放行".encode("gbk") + b"</CEB622Message>"
    with uow:
        first = uow.receipts.add_raw(adapter="sandbox", cursor="c-1", raw=raw, received_at=T0)
        assert first is not None and first.sha256 == hashlib.sha256(raw).hexdigest()
        assert uow.receipts.add_raw(adapter="sandbox", cursor="c-2", raw=raw) is None  # same uow
        uow.commit()
    with uow:
        assert uow.receipts.add_raw(adapter="sandbox", cursor="c-3", raw=raw) is None  # later uow
        other = uow.receipts.add_raw(adapter="sandbox", cursor="c-4", raw=raw + b" ")
        assert other is not None
        uow.commit()
    with uow:
        rows = uow.session.scalars(select(Receipt).order_by(Receipt.id)).all()
        assert [r.cursor for r in rows] == ["c-1", "c-4"]
        assert rows[0].raw == raw and rows[0].outcome == "unmatched" and rows[0].tenant_id is None


def test_audit_record_and_cursors(uow):
    tenant_id, _ = add_tenant(uow)
    with uow:
        uow.audit.record(tenant_id, "order", "O1", "order.received", {"b": "价格", "a": 1}, at=T0)
        uow.cursors.set("sandbox", "c-1")
        uow.commit()
    with uow:
        uow.cursors.set("sandbox", "c-2")
        uow.commit()
    with uow:
        (event,) = uow.audit.for_subject("order", "O1")
        assert event.detail == '{"a":1,"b":"价格"}' and event.at == T0 and len(event.hash) == 64  # chained (0006)
        assert uow.cursors.get("sandbox") == "c-2"
        assert uow.cursors.get("unknown") is None


# ---- outbox ------------------------------------------------------------------------------------


def add_outbox(uow: UnitOfWork, tenant_id: str, filing_ids: list[str], **kw) -> list[int]:
    with uow:
        items = [
            uow.outbox.add(
                OutboxItem(tenant_id=tenant_id, filing_id=fid, adapter=kw.get("adapter", "sandbox"),
                           state=kw.get("state", "pending"), attempts=0,
                           next_attempt_at=kw.get("at", T0) + timedelta(seconds=i), created_at=T0)
            )
            for i, fid in enumerate(filing_ids)
        ]
        uow.commit()
    return [i.id for i in items]


def test_outbox_claim_due_returns_due_rows_only(uow):
    tenant_id, _ = add_tenant(uow)
    _, filings = add_order_with_filings(uow, tenant_id, 6)
    due = add_outbox(uow, tenant_id, filings[:2])
    add_outbox(uow, tenant_id, filings[2:3], at=T0 + timedelta(hours=1))   # not yet due
    add_outbox(uow, tenant_id, filings[3:4], state="sent")                 # not pending
    add_outbox(uow, tenant_id, filings[4:5], state="done")
    other = add_outbox(uow, tenant_id, filings[5:6], adapter="singlewindow")
    now = T0 + timedelta(minutes=5)

    with uow:
        assert [i.id for i in uow.outbox.claim_due(now, 10, "sandbox")] == due
        assert [i.id for i in uow.outbox.claim_due(now, 1, "sandbox")] == due[:1]
        assert sorted(i.id for i in uow.outbox.claim_due(now, 10)) == due + other
        assert uow.outbox.claim_due(T0 - timedelta(seconds=1), 10) == []
        # the same instant written in another time zone compares correctly
        assert [i.id for i in uow.outbox.claim_due(T0.astimezone(UTC), 10, "sandbox")] == due[:1]


@pytest.fixture
def pg_uow_factory(postgres_url):
    engine = make_engine(postgres_url, pool_size=8)
    upgrade(engine)
    try:
        yield lambda: UnitOfWork(session_factory(engine))
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_concurrent_claims_skip_locked_rows_on_postgres(pg_uow_factory):
    uow = pg_uow_factory()
    tenant_id, _ = add_tenant(uow)
    _, filings = add_order_with_filings(uow, tenant_id, 6)
    all_ids = add_outbox(uow, tenant_id, filings)
    now = T0 + timedelta(minutes=5)

    a_claimed, b_done = threading.Event(), threading.Event()
    got: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def worker_a():
        try:
            with pg_uow_factory() as u:
                got["a"] = [i.id for i in u.outbox.claim_due(now, 3)]
                a_claimed.set()
                assert b_done.wait(20), "B blocked on A's locks: SKIP LOCKED not in effect"
                u.commit()
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
            a_claimed.set()

    def worker_b():
        try:
            assert a_claimed.wait(20)
            with pg_uow_factory() as u:
                u.session.execute(text("SET LOCAL lock_timeout = '5s'"))  # fail, don't hang
                got["b"] = [i.id for i in u.outbox.claim_due(now, 10)]
                u.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            b_done.set()

    threads = [threading.Thread(target=worker_a), threading.Thread(target=worker_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert got["a"] == all_ids[:3]
    assert got["b"] == all_ids[3:]  # the rows A holds are skipped, not waited for


@pytest.fixture
def uow_factory(migrated_engine):
    return lambda: UnitOfWork(session_factory(migrated_engine))


def test_many_dispatchers_never_claim_the_same_row(uow_factory):
    """PostgreSQL: SKIP LOCKED; SQLite: BEGIN IMMEDIATE makes the units of work take turns."""
    uow = uow_factory()
    tenant_id, _ = add_tenant(uow)
    _, filings = add_order_with_filings(uow, tenant_id, 40)
    all_ids = add_outbox(uow, tenant_id, filings)
    now = T0 + timedelta(hours=1)
    claimed: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def dispatcher():
        try:
            start.wait(20)
            while True:
                with uow_factory() as u:
                    items = u.outbox.claim_due(now, 3)
                    if not items:
                        return
                    for item in items:
                        item.state, item.attempts, item.sent_at = "sent", item.attempts + 1, now
                    with lock:
                        claimed.extend(item.id for item in items)
                    u.commit()
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(claimed) == sorted(all_ids)  # every row once, none twice
    with uow:
        rows = uow.session.scalars(select(OutboxItem)).all()
        assert {r.state for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}


def test_concurrent_duplicate_receipts_store_one_row(uow_factory):
    """Two pollers append the same bytes at the same time: one row, one None, no exception,
    and the loser's unit of work is still usable."""
    raw = b"<CEB622Message><returnStatus>800</returnStatus></CEB622Message>"
    first_in, results, errors = threading.Event(), {}, []

    def second():
        try:
            assert first_in.wait(20)
            with uow_factory() as u:
                results["second"] = u.receipts.add_raw(adapter="poll-2", cursor="b", raw=raw)
                u.receipts.add_raw(adapter="poll-2", cursor="b2", raw=raw + b"\n")
                u.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    with uow_factory() as u:
        results["first"] = u.receipts.add_raw(adapter="poll-1", cursor="a", raw=raw)
        u.flush()
        first_in.set()
        thread.join(0.5)  # let the second one reach the database and wait on our row
        u.commit()
    thread.join(60)
    assert not errors, errors
    assert results["first"] is not None and results["second"] is None
    with uow_factory() as u:
        assert [r.cursor for r in u.session.scalars(select(Receipt).order_by(Receipt.id))] == ["a", "b2"]


def test_bulk_inserted_rows_get_their_ids_in_list_order(uow):
    """``bulk.insert_returning_ids`` (audit records, raw receipts): SQLite draws the ids under its write lock,
    PostgreSQL inserts from one array per column and sorts the returned ids; either way the i-th id is the
    i-th row's, also for more rows than a page of the old VALUES list and with NULLs among the values."""
    from sqlalchemy import select

    from gateway.store.bulk import insert_returning_ids

    table = AuditEvent.__table__
    rows = [{"tenant_id": None, "subject_type": "bulk", "subject_id": f"S{i}", "action": "bulk.test",
             "detail": "{}", "at": T0, "prev_hash": None if i % 3 else f"{i:064d}", "hash": f"{i:064x}"}
            for i in range(1500)]
    with uow:
        ids = insert_returning_ids(uow.session, table, rows)
        stored = dict(uow.session.execute(select(table.c.id, table.c.subject_id).where(table.c.id.in_(ids))).all())
        uow.commit()
    assert len(ids) == 1500 and ids == sorted(ids)
    assert [stored[i] for i in ids] == [r["subject_id"] for r in rows]
