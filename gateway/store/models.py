"""SQLAlchemy models: plain persistence classes, one ``Base``, no business logic, no XML.

Conventions
- Ids are 36-character upper-case UUID strings chosen by the caller (the service layer's id
  generator), except the append-only logs (outbox, receipts, audit_events), which autoincrement.
- Every business row carries ``tenant_id``; repositories in ``uow.py`` always filter on it.
- JSON lives in ``Text`` columns (``body`` keeps the order exactly as received); money stays
  inside that JSON as strings, never as floats.
- Times are timezone-aware: ``UTCDateTime`` refuses naive datetimes, stores UTC and always
  returns aware UTC datetimes, on SQLite as well as PostgreSQL.
- Constraint names come from ``NAMING_CONVENTION`` so Alembic autogenerate stays stable.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Closed vocabularies enforced by CHECK constraints (changing one needs a migration).
DIRECTIONS = ("import", "export")
AGENCIES = ("customs", "inspection", "fx", "tax")
OUTBOX_STATES = ("pending", "sent", "failed", "done")
RECEIPT_OUTCOMES = ("applied", "ignored", "quarantined", "unmatched")
RECEIPT_EVENT_OUTCOMES = ("applied", "ignored")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator):
    """``DateTime(timezone=True)`` that is aware on every backend.

    Binding a naive datetime raises ``ValueError`` (we never guess a time zone). Values are
    stored in UTC; SQLite keeps them as naive ISO text in UTC, so text comparison there orders
    correctly. Loaded values are aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime refused (give it a time zone): {value!r}")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _tenant_fk(nullable: bool = False) -> Mapped:
    return mapped_column(String(36), ForeignKey("tenants.id"), nullable=nullable, index=True)


def _parent(target: str):
    """Many-to-one link, there only so a flush inserts parents before children (SQLAlchemy
    orders a flush by relationships, not by foreign keys). ``lazy="raise"``: reading it is an
    error, so nobody walks across rows (or tenants) by accident; load through the repositories
    by id and tenant. Assigning it is allowed and sets the foreign key."""
    return relationship(target, lazy="raise")


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    cop_code: Mapped[str] = mapped_column(String(18))      # transmitting enterprise code
    cop_name: Mapped[str] = mapped_column(String(100))
    dxp_id: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"Tenant(id={self.id!r}, name={self.name!r})"


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    prefix: Mapped[str] = mapped_column(String(8), index=True)        # first 8 chars of the key
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)    # sha256 hex of the whole key
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    tenant: Mapped[Tenant] = _parent("Tenant")

    def __repr__(self) -> str:  # never shows the hash
        return f"ApiKey(id={self.id!r}, tenant_id={self.tenant_id!r}, prefix={self.prefix!r})"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("tenant_id", "platform_code", "order_no"),
        CheckConstraint(_in("direction", DIRECTIONS), name="direction"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    order_no: Mapped[str] = mapped_column(String(60))
    regime: Mapped[str] = mapped_column(String(10))             # '1210', '9610', '0110', ...
    direction: Mapped[str] = mapped_column(String(6))           # 'import' | 'export'
    platform_code: Mapped[str] = mapped_column(String(18))
    body: Mapped[str] = mapped_column(Text)                     # JSON exactly as received
    normalized: Mapped[str] = mapped_column(Text)               # JSON
    status: Mapped[str] = mapped_column(String(20))             # combined status
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    cop_no: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    tenant: Mapped[Tenant] = _parent("Tenant")


class Filing(Base):
    __tablename__ = "filings"
    __table_args__ = (CheckConstraint(_in("agency", AGENCIES), name="agency"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    order_id: Mapped[str] = mapped_column(String(36), ForeignKey("orders.id"), index=True)
    message_type: Mapped[str] = mapped_column(String(30))       # e.g. 'CEB621Message'
    agency: Mapped[str] = mapped_column(String(10))
    guid: Mapped[str] = mapped_column(String(36), unique=True)  # message id, kept for life
    sequence: Mapped[int] = mapped_column(Integer)              # send order within the order
    state: Mapped[str] = mapped_column(String(20))
    last_status_code: Mapped[str | None] = mapped_column(String(10), nullable=True)
    signed_bytes: Mapped[bytes] = mapped_column(LargeBinary)    # exact bytes sent
    sha256: Mapped[str] = mapped_column(String(64))
    business_key: Mapped[str] = mapped_column(String(200), index=True)
    built_with: Mapped[str] = mapped_column(Text)               # JSON: schema/rule versions
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # corrections (migration 0008, docs/corrections.md): the appType sent (1 add, 2 modify, 3 delete) and
    # the filing this one changes (a modification, deletion, replacement or reversal of it). No foreign
    # key here (SQLite cannot add one to an existing table in place): corrections.target_id carries it.
    app_type: Mapped[str] = mapped_column(String(1), default="1", server_default="1")
    corrects_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)

    tenant: Mapped[Tenant] = _parent("Tenant")
    order: Mapped[Order] = _parent("Order")


class OutboxItem(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("state", OUTBOX_STATES), name="state"),
        Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
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
    outcome: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    receipt: Mapped[Receipt] = _parent("Receipt")
    tenant: Mapped[Tenant] = _parent("Tenant")
    filing: Mapped[Filing] = _parent("Filing")


class AuditEvent(Base):
    """Append-only. No FK on tenant_id: the log must outlive anything it talks about."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    subject_type: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    detail: Mapped[str] = mapped_column(Text)                   # JSON
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)  # for the hash chain
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class KvCursor(Base):
    """Adapter receipt cursors: one row per adapter/channel."""

    __tablename__ = "kv_cursors"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


# ---- audit chain, checkpoints and auditors (migration 0006) -----------------------------------


class AuditChainHead(Base):
    """The head of the audit hash chain: exactly one row (id 1). Appending records reads it with
    ``SELECT ... FOR UPDATE`` (PostgreSQL) inside the appending transaction, so two transactions
    never link to the same previous record; on SQLite writers are serialised by BEGIN IMMEDIATE.
    ``records`` counts the chained records, so deleting the newest ones shows."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    records: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditCheckpoint(Base):
    """A signed statement of the chain head (``gateway audit checkpoint``); see gateway.audit.checkpoint."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    head_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    records: Mapped[int] = mapped_column(Integer)
    last_event_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    signature: Mapped[str] = mapped_column(Text)                # base64, RSA PKCS#1 v1.5 SHA-256
    certificate: Mapped[str] = mapped_column(Text)              # PEM of the signer
    key_name: Mapped[str] = mapped_column(String(64))           # certificate serial (hex)


class Auditor(Base):
    """A read-only API user (``/v1/audit``). Only the sha256 of the key is kept, as for api_keys."""

    __tablename__ = "auditors"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(8), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def __repr__(self) -> str:  # never shows the hash
        return f"Auditor(id={self.id!r}, name={self.name!r})"


class AuditorGrant(Base):
    """Which tenants an auditor may read."""

    __tablename__ = "auditor_grants"

    auditor_id: Mapped[str] = mapped_column(String(36), ForeignKey("auditors.id"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id"), primary_key=True, index=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    auditor: Mapped[Auditor] = _parent("Auditor")
    tenant: Mapped[Tenant] = _parent("Tenant")


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

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(200), default="")
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


# ---- tenant signing keys (migration 0005) -------------------------------------------------------

KEY_TYPES = ("rsa", "sm2")


class SigningKey(Base):
    """A tenant's signing key for one channel (gateway.signing.keystore). The private key is kept
    only encrypted (AES-256-GCM under GATEWAY_KEYSTORE_KEY, bound to this row by its associated
    data); ``master_key_id`` names that key (first bytes of its SHA-256), never the key itself.
    Rotation adds a row with a later ``active_from``; old rows stay for verification."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "channel", "key_name"),
        CheckConstraint(_in("key_type", KEY_TYPES), name="key_type"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    channel: Mapped[str] = mapped_column(String(40))
    key_type: Mapped[str] = mapped_column(String(8))
    key_name: Mapped[str] = mapped_column(String(64))            # certificate serial (hex)
    subject: Mapped[str] = mapped_column(Text)
    certificate: Mapped[bytes] = mapped_column(LargeBinary)      # DER
    private_key: Mapped[bytes] = mapped_column(LargeBinary)      # encrypted PKCS#8 (never plain)
    master_key_id: Mapped[str] = mapped_column(String(16))
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    active_from: Mapped[datetime] = mapped_column(UTCDateTime())
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    tenant: Mapped[Tenant] = _parent("Tenant")

    def __repr__(self) -> str:  # never shows key material
        return f"SigningKey(id={self.id!r}, tenant_id={self.tenant_id!r}, channel={self.channel!r}, key_name={self.key_name!r})"


ANNUAL_ENTRY_KINDS = ("counted", "restored")


class BuyerAnnualAmount(Base):
    """CBEC retail import: the amount counted toward a buyer's annual limit (26,000 CNY per person
    per calendar year since 2019), as an append-only ledger. One "counted" row per order taxed as
    CBEC; a "restored" row (negative amount) when a return gives the amount back (2020 No.45).

    The buyer is kept as ``buyer_key`` = sha256 hex of "id_type:ID NUMBER", never the identity
    number itself. The amount is a decimal string (exact, up to 5 decimals as orders allow).
    No foreign key on order_id: the ledger must outlive anything it talks about (like audit_events).
    See gateway/store/annual.py (migration 0003)."""

    __tablename__ = "buyer_annual_amounts"
    __table_args__ = (
        UniqueConstraint("order_id", "kind"),
        CheckConstraint(_in("kind", ANNUAL_ENTRY_KINDS), name="kind"),
        Index("ix_buyer_annual_amounts_buyer_key_year", "buyer_key", "year"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    buyer_key: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    amount: Mapped[str] = mapped_column(String(24))             # decimal string, CNY
    order_id: Mapped[str] = mapped_column(String(36))
    ruleset: Mapped[str] = mapped_column(String(40), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    tenant: Mapped[Tenant] = _parent("Tenant")


class PaymentRaw(Base):
    """The raw payment-company exchange of an order and the 179 fields orders do not carry
    (POST /v1/orders/<id>/payment-raw), for the real-time payment data upload (公告2018年第179号).
    ``body`` is the JSON as received; the latest one counts."""

    __tablename__ = "payment_raw"

    order_id: Mapped[str] = mapped_column(String(36), ForeignKey("orders.id"), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    tenant: Mapped[Tenant] = _parent("Tenant")
    order: Mapped[Order] = _parent("Order")


# ---- corrections and reversals (migration 0008, docs/corrections.md) --------------------------------

CORRECTION_KINDS = ("modify", "delete", "replace", "cancel", "return")


class Correction(Base):
    """One correction or reversal: the new filing (``filing_id``), the filing it changes (``target_id``),
    why, and what it needs remembered (the order version it was built from, returned lines, deadlines).
    Append-only, like the filings: a later change is a new row."""

    __tablename__ = "corrections"
    __table_args__ = (CheckConstraint(_in("kind", CORRECTION_KINDS), name="kind"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    order_id: Mapped[str] = mapped_column(String(36), ForeignKey("orders.id"), index=True)
    filing_id: Mapped[str] = mapped_column(String(36), ForeignKey("filings.id"), unique=True)
    target_id: Mapped[str] = mapped_column(String(36), ForeignKey("filings.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    order_version: Mapped[int | None] = mapped_column(Integer, nullable=True)   # modify/replace: built from
    due_by: Mapped[date | None] = mapped_column(Date, nullable=True)   # returns: goods back by (China date)
    detail: Mapped[str] = mapped_column(Text)                   # JSON: lines, windows, numbers used
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    tenant: Mapped[Tenant] = _parent("Tenant")
    order: Mapped[Order] = _parent("Order")
    filing: Mapped[Filing] = relationship("Filing", foreign_keys=[filing_id], lazy="raise")
    target: Mapped[Filing] = relationship("Filing", foreign_keys=[target_id], lazy="raise")


class OrderVersion(Base):
    """A corrected order body, exactly as received (``orders.body`` stays version 1, untouched)."""

    __tablename__ = "order_versions"
    __table_args__ = (UniqueConstraint("order_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    order_id: Mapped[str] = mapped_column(String(36), ForeignKey("orders.id"))
    version: Mapped[int] = mapped_column(Integer)               # 2, 3, ...
    body: Mapped[str] = mapped_column(Text)                     # JSON exactly as received
    body_sha256: Mapped[str] = mapped_column(String(64))        # of the canonical JSON, as orders.normalized
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    tenant: Mapped[Tenant] = _parent("Tenant")
    order: Mapped[Order] = _parent("Order")
