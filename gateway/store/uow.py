"""Unit of work and tiny repositories (cosmicpython style).

    uow = UnitOfWork(session_factory(engine))
    with uow:
        order = uow.orders.get(tenant_id, order_id)
        ...
        uow.commit()

Leaving the ``with`` block without ``commit()`` (or by an exception) rolls everything back.
Every read of tenant data takes the tenant id: there is no "get by id" that ignores the tenant.
The two deliberate exceptions are lookups that run before the tenant is known:
``filings.by_business_key`` / ``filings.by_guid`` (matching a receipt) and
``api_keys.find_tenant`` (authenticating a request).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.store import audit_chain, receipt_rows
from gateway.store.models import (
    ApiKey,
    AuditEvent,
    Filing,
    KvCursor,
    Order,
    OutboxItem,
    Receipt,
    ReceiptEvent,
    Tenant,
    utcnow,
)
from gateway.store.receipt_rows import StoredReceipt
from gateway.store.tenants import tenant_id_for_key


def _json_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# built once (json.dumps with options builds an encoder per call)
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def dumps_json(value: Any) -> str:
    """Canonical JSON for the Text columns: sorted keys, no spaces, UTF-8 kept as is.
    Decimal is written as a string (money is never a float); dates as ISO 8601."""
    return _CANONICAL.encode(value)


class _Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, obj: Any) -> Any:
        self.session.add(obj)
        return obj


class TenantRepository(_Repository):
    def get(self, tenant_id: str) -> Tenant | None:
        return self.session.get(Tenant, tenant_id)


class ApiKeyRepository(_Repository):
    def get(self, tenant_id: str, api_key_id: str) -> ApiKey | None:
        return self.session.scalar(
            select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == api_key_id)
        )

    def for_tenant(self, tenant_id: str) -> list[ApiKey]:
        stmt = select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at, ApiKey.id)
        return list(self.session.scalars(stmt))

    def find_tenant(self, plain_key: str) -> Tenant | None:
        """The tenant owning ``plain_key``; None for an unknown, wrong or revoked key, or a disabled tenant
        (the rules: ``store.tenants.tenant_id_for_key``)."""
        tenant_id = tenant_id_for_key(self.session, plain_key)
        return self.session.get(Tenant, tenant_id) if tenant_id is not None else None


class OrderRepository(_Repository):
    def get(self, tenant_id: str, order_id: str) -> Order | None:
        return self.session.scalar(select(Order).where(Order.tenant_id == tenant_id, Order.id == order_id))

    def in_scope(self, order_id: str, tenant_id: str | None) -> Order | None:
        """An order by id, within one tenant, or any tenant's for ``None`` (an operator: ids are unique)."""
        stmt = select(Order).where(Order.id == order_id)
        if tenant_id is not None:
            stmt = stmt.where(Order.tenant_id == tenant_id)
        return self.session.scalar(stmt)

    def find_by_numbers(self, tenant_id: str, numbers) -> dict[tuple[str, str], Order]:
        """``find_by_number`` of many (platform code, order no.) at once: one query per 500 numbers."""
        wanted = set(numbers)
        codes, order_nos = sorted({code for code, _ in wanted}), sorted({no for _, no in wanted})
        found: dict[tuple[str, str], Order] = {}
        for start in range(0, len(order_nos), 500):     # the unique index (tenant, platform code, order no.)
            stmt = select(Order).where(Order.tenant_id == tenant_id, Order.platform_code.in_(codes),
                                       Order.order_no.in_(order_nos[start:start + 500]))
            for order in self.session.scalars(stmt):
                if (order.platform_code, order.order_no) in wanted:
                    found[(order.platform_code, order.order_no)] = order
        return found

    def find_by_number(self, tenant_id: str, platform_code: str, order_no: str) -> Order | None:
        return self.session.scalar(
            select(Order).where(
                Order.tenant_id == tenant_id,
                Order.platform_code == platform_code,
                Order.order_no == order_no,
            )
        )


class FilingRepository(_Repository):
    def get(self, tenant_id: str, filing_id: str) -> Filing | None:
        return self.session.scalar(select(Filing).where(Filing.tenant_id == tenant_id, Filing.id == filing_id))

    def for_order(self, tenant_id: str, order_id: str) -> list[Filing]:
        stmt = (
            select(Filing)
            .where(Filing.tenant_id == tenant_id, Filing.order_id == order_id)
            .order_by(Filing.sequence, Filing.created_at, Filing.id)
        )
        return list(self.session.scalars(stmt))

    def for_orders(self, tenant_id: str, order_ids: list[str]) -> dict[str, list[Filing]]:
        """The filings of several orders in one query: order id -> its filings, ordered as ``for_order``."""
        found: dict[str, list[Filing]] = {order_id: [] for order_id in order_ids}
        if found:
            stmt = (select(Filing).where(Filing.tenant_id == tenant_id, Filing.order_id.in_(list(found)))
                    .order_by(Filing.sequence, Filing.created_at, Filing.id))
            for filing in self.session.scalars(stmt):
                found[filing.order_id].append(filing)
        return found

    def by_business_key(self, business_key: str) -> list[Filing]:
        """Filings a receipt may belong to (tenant not known yet), oldest first."""
        stmt = select(Filing).where(Filing.business_key == business_key).order_by(Filing.created_at, Filing.id)
        return list(self.session.scalars(stmt))

    def by_guid(self, guid: str) -> Filing | None:
        """The filing sent with this message id (receipts that echo the guid)."""
        return self.session.scalar(select(Filing).where(Filing.guid == guid))


class OutboxRepository(_Repository):
    def get(self, tenant_id: str, item_id: int) -> OutboxItem | None:
        return self.session.scalar(
            select(OutboxItem).where(OutboxItem.tenant_id == tenant_id, OutboxItem.id == item_id)
        )

    def for_filing(self, tenant_id: str, filing_id: str) -> OutboxItem | None:
        return self.session.scalar(
            select(OutboxItem).where(OutboxItem.tenant_id == tenant_id, OutboxItem.filing_id == filing_id)
        )

    def claim_due(self, now: datetime, limit: int, adapter: str | None = None) -> list[OutboxItem]:
        """Pending items with ``next_attempt_at <= now``, oldest due first, at most ``limit``.

        On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED`` until this unit of work
        ends, so concurrent dispatchers never get the same row: update the rows (state,
        attempts, next_attempt_at) and commit. On SQLite it is a plain select: every unit of
        work there starts with BEGIN IMMEDIATE (see ``db.make_engine``), so a second dispatcher
        waits for the first to commit and then sees the rows already moved on.
        """
        stmt = select(OutboxItem).where(OutboxItem.state == "pending", OutboxItem.next_attempt_at <= now)
        if adapter is not None:
            stmt = stmt.where(OutboxItem.adapter == adapter)
        stmt = stmt.order_by(OutboxItem.next_attempt_at, OutboxItem.id).limit(limit)
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return list(self.session.scalars(stmt))


def _unmatched(adapter: str, cursor: str, raw: bytes, digest: str, received_at: datetime | None,
               tenant_id: str | None = None, filing_id: str | None = None) -> Receipt:
    """A new receipt row, exactly as received: outcome 'unmatched' until the service has looked at it."""
    return Receipt(tenant_id=tenant_id, filing_id=filing_id, adapter=adapter, cursor=cursor, raw=bytes(raw),
                   sha256=digest, outcome="unmatched", received_at=received_at or utcnow())


def _stage_stored(session: Session, receipt: Receipt | receipt_rows.StoredReceipt, raw: bytes) -> None:
    """Chain-cover the raw bytes: whoever stores a receipt, its sha256 enters the audit chain (after a
    flush or insert, so the receipt has its id)."""
    audit_chain.stage(session, audit_chain.Staged(
        tenant_id=None, subject_type="receipt", subject_id=str(receipt.id), action="receipt.stored",
        detail=dumps_json({"sha256": receipt.sha256, "adapter": receipt.adapter, "cursor": receipt.cursor,
                           "size": len(raw)}),
        at=utcnow()))


class ReceiptRepository(_Repository):
    def get(self, receipt_id: int) -> Receipt | None:
        return self.session.get(Receipt, receipt_id)

    def add_raw(
        self,
        *,
        adapter: str,
        cursor: str,
        raw: bytes,
        received_at: datetime | None = None,
        tenant_id: str | None = None,
        filing_id: str | None = None,
    ) -> Receipt | None:
        """Append a receipt exactly as received; None when the same bytes are already stored.

        The sha256 is computed here from ``raw`` and recorded in the audit chain (``receipt.stored``)
        in the same transaction, so editing the stored bytes later is detectable. The row starts as outcome 'unmatched'; the
        service sets the outcome (and parsed fields) once it has looked at it. A concurrent
        insert of the same bytes is caught by the unique index inside a savepoint, so the
        caller's unit of work stays usable.
        """
        digest = hashlib.sha256(raw).hexdigest()
        if self.session.scalar(select(Receipt.id).where(Receipt.sha256 == digest)) is not None:
            return None
        receipt = _unmatched(adapter, cursor, raw, digest, received_at, tenant_id=tenant_id, filing_id=filing_id)
        try:
            with self.session.begin_nested():
                self.session.add(receipt)
        except IntegrityError:
            if self.session.scalar(select(Receipt.id).where(Receipt.sha256 == digest)) is not None:
                return None  # another transaction stored the same bytes first
            raise
        _stage_stored(self.session, receipt, raw)
        return receipt

    def add_raw_many(self, adapter: str, raws: list[tuple[bytes, str, datetime | None]]) -> list[tuple[StoredReceipt, bytes]]:
        """``add_raw`` for a batch of (bytes, cursor, received_at): the ones not stored yet (one
        query finds those), in order, each chain-covered, inserted in one statement (plain
        ``StoredReceipt`` records: ``receipt_rows.write_outcomes`` writes what applying them found).
        No savepoint: a concurrent insert of the same bytes fails the whole transaction with
        IntegrityError (the caller redoes the batch one by one)."""
        digests = [hashlib.sha256(raw).hexdigest() for raw, _, _ in raws]
        seen = set(self.session.scalars(select(Receipt.sha256).where(Receipt.sha256.in_(set(digests)))))
        todo = []
        for (raw, cursor, received_at), digest in zip(raws, digests, strict=True):
            if digest in seen:
                continue
            seen.add(digest)
            todo.append((bytes(raw), digest, cursor, received_at or utcnow()))
        out = list(zip(receipt_rows.insert_raw_many(self.session, adapter, todo), [raw for raw, *_ in todo],
                       strict=True))
        for receipt, raw in out:
            _stage_stored(self.session, receipt, raw)
        return out

    def for_filing(self, filing_id: str) -> list[ReceiptEvent]:
        """The receipt history of a filing, in the order it arrived."""
        return list(self.session.scalars(
            select(ReceiptEvent).where(ReceiptEvent.filing_id == filing_id).order_by(ReceiptEvent.id)))


class AuditRepository(_Repository):
    def record(
        self,
        tenant_id: str | None,
        subject_type: str,
        subject_id: str,
        action: str,
        detail: dict,
        at: datetime | None = None,
    ) -> audit_chain.Staged:
        """Append one event; ``detail`` is stored as canonical JSON (see ``dumps_json``).

        The event joins the hash chain when this transaction commits (prev_hash, hash and id are
        set then; see ``gateway.store.audit_chain``); a rollback drops it with everything else."""
        event = audit_chain.Staged(
            tenant_id=tenant_id,
            subject_type=subject_type,
            subject_id=subject_id,
            action=action,
            detail=dumps_json(detail),
            at=at or utcnow(),
        )
        audit_chain.stage(self.session, event)
        return event

    def for_subject(self, subject_type: str, subject_id: str) -> list[AuditEvent]:
        stmt = (
            select(AuditEvent)
            .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == subject_id)
            .order_by(AuditEvent.id)
        )
        return list(self.session.scalars(stmt))


class CursorRepository(_Repository):
    """Adapter receipt cursors (``kv_cursors``)."""

    def get(self, name: str) -> str | None:
        row = self.session.get(KvCursor, name)
        return row.value if row is not None else None

    def set(self, name: str, value: str) -> None:
        row = self.session.get(KvCursor, name)
        if row is None:
            self.session.add(KvCursor(name=name, value=value))
        else:
            row.value = value


class UnitOfWork:
    """One database transaction. Not re-entrant; a new ``with`` starts a new session."""

    session: Session
    tenants: TenantRepository
    api_keys: ApiKeyRepository
    orders: OrderRepository
    filings: FilingRepository
    outbox: OutboxRepository
    receipts: ReceiptRepository
    audit: AuditRepository
    cursors: CursorRepository

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory

    def __enter__(self) -> UnitOfWork:
        self.session = self.session_factory()
        self.tenants = TenantRepository(self.session)
        self.api_keys = ApiKeyRepository(self.session)
        self.orders = OrderRepository(self.session)
        self.filings = FilingRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.receipts = ReceiptRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.cursors = CursorRepository(self.session)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.rollback()  # no-op after commit(); discards anything not committed
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def flush(self) -> None:
        self.session.flush()
