"""The audit log, its hash chain head and checkpoints, auditors and their grants."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, _parent, utcnow
from .tenants import Tenant


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
