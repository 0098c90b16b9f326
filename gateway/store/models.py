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

from datetime import datetime, timezone

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
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
