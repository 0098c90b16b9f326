"""Sending and receiving: the outbox, receipts, adapter cursors, circuit breakers and webhooks."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import (
    OUTBOX_STATES,
    RECEIPT_EVENT_OUTCOMES,
    RECEIPT_OUTCOMES,
    Base,
    UTCDateTime,
    _in,
    _parent,
    _tenant_fk,
    utcnow,
)
from .orders import Filing
from .tenants import Tenant


class OutboxItem(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("state", OUTBOX_STATES), name="state"),
        Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_outbox_state_adapter_next_attempt_at", "state", "adapter", "next_attempt_at"),   # 0009
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    filing_id: Mapped[str] = mapped_column(String(36), ForeignKey("filings.id"), unique=True)
    adapter: Mapped[str] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # delivery (0004): a claim is a lease; in_doubt = the last send may have reached the other side
    # (claimed and never recorded, or timed out after writing): look it up before any resend.
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    in_doubt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    tenant: Mapped[Tenant] = _parent("Tenant")
    filing: Mapped[Filing] = _parent("Filing")


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__ = (CheckConstraint(_in("outcome", RECEIPT_OUTCOMES), name="outcome"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str | None] = _tenant_fk(nullable=True)   # unknown until matched
    filing_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("filings.id"), nullable=True, index=True
    )
    adapter: Mapped[str] = mapped_column(String(50))
    cursor: Mapped[str] = mapped_column(String(100))
    raw: Mapped[bytes] = mapped_column(LargeBinary)             # exactly as received
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    message_type: Mapped[str | None] = mapped_column(String(30), nullable=True)
    status_code: Mapped[str | None] = mapped_column(String(10), nullable=True)
    status_time: Mapped[str | None] = mapped_column(String(17), nullable=True)  # yyyyMMddHHmmssSSS
    info: Mapped[str | None] = mapped_column(Text, nullable=True)
    parsed: Mapped[str | None] = mapped_column(Text, nullable=True)             # JSON
    outcome: Mapped[str] = mapped_column(String(12), default="unmatched")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    tenant: Mapped[Tenant | None] = _parent("Tenant")
    filing: Mapped[Filing | None] = _parent("Filing")


class ReceiptEvent(Base):
    """One return entity of a receipt message (a receipt may answer up to 100 documents), as
    matched to the filing it answers. The raw message stays in ``receipts``."""

    __tablename__ = "receipt_events"
    __table_args__ = (CheckConstraint(_in("outcome", RECEIPT_EVENT_OUTCOMES), name="outcome"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    receipt_id: Mapped[int] = mapped_column(Integer, ForeignKey("receipts.id"), index=True)
    tenant_id: Mapped[str] = _tenant_fk()
    filing_id: Mapped[str] = mapped_column(String(36), ForeignKey("filings.id"), index=True)
    message_type: Mapped[str] = mapped_column(String(30))
    status_code: Mapped[str] = mapped_column(String(10))
    status_time: Mapped[str] = mapped_column(String(17))
    info: Mapped[str | None] = mapped_column(Text, nullable=True)
    parsed: Mapped[str | None] = mapped_column(Text, nullable=True)             # JSON
    # CEB622: the inventory number customs gave (a tax bill names it; migration 0037)
    invt_no: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    outcome: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    receipt: Mapped[Receipt] = _parent("Receipt")
    tenant: Mapped[Tenant] = _parent("Tenant")
    filing: Mapped[Filing] = _parent("Filing")


class KvCursor(Base):
    """Adapter receipt cursors: one row per adapter/channel."""

    __tablename__ = "kv_cursors"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


# ---- delivery (migration 0004): circuit breakers and webhooks ---------------------------------

BREAKER_STATES = ("closed", "open", "half_open")
WEBHOOK_DELIVERY_STATES = ("pending", "delivered", "failed", "cancelled")


class Breaker(Base):
    """The circuit breaker of one adapter, shared by every dispatcher (the database holds the truth)."""

    __tablename__ = "breakers"
    __table_args__ = (CheckConstraint(_in("state", BREAKER_STATES), name="state"),)

    adapter: Mapped[str] = mapped_column(String(50), primary_key=True)
    state: Mapped[str] = mapped_column(String(10), default="closed")
    failures: Mapped[int] = mapped_column(Integer, default=0)          # consecutive transport failures
    opened: Mapped[int] = mapped_column(Integer, default=0)            # times opened in a row (cool-down grows)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)     # open: probe allowed from
    probe_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    probe_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # half-open: probe lease
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BreakerTransition(Base):
    """Append-only: every change of a breaker's state, with why and by whom."""

    __tablename__ = "breaker_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    adapter: Mapped[str] = mapped_column(String(50), index=True)
    from_state: Mapped[str] = mapped_column(String(10))
    to_state: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Webhook(Base):
    """A tenant's endpoint for state-change events. ``secret`` signs every body (HMAC-SHA256), so
    it is kept as is (a hash could not sign); it is shown to the tenant once, at registration."""

    __tablename__ = "webhooks"
    __table_args__ = (   # one live registration per URL and tenant (migration 0031)
        Index("uq_webhooks_tenant_url_live", "tenant_id", "url", unique=True,
              sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[str] = mapped_column(String(200), default="*")     # "*" or names, comma-separated
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    tenant: Mapped[Tenant] = _parent("Tenant")


class WebhookDelivery(Base):
    """The webhook outbox: one event for one webhook, written in the transaction of the change.
    ``body`` is the exact JSON sent (and signed) on every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        CheckConstraint(_in("state", WEBHOOK_DELIVERY_STATES), name="state"),
        Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    webhook_id: Mapped[str] = mapped_column(String(36), ForeignKey("webhooks.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(50))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    tenant: Mapped[Tenant] = _parent("Tenant")
    webhook: Mapped[Webhook] = _parent("Webhook")


class WebhookAttempt(Base):
    """Append-only log of every POST of a delivery: what came back, or why nothing did."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(Integer, ForeignKey("webhook_deliveries.id"), index=True)
    tenant_id: Mapped[str] = _tenant_fk()
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)

    delivery: Mapped[WebhookDelivery] = _parent("WebhookDelivery")
    tenant: Mapped[Tenant] = _parent("Tenant")
