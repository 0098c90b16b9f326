"""Tenants, their API keys and their signing keys."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, _in, _parent, _tenant_fk, utcnow


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    cop_code: Mapped[str] = mapped_column(String(18))      # transmitting enterprise code
    cop_name: Mapped[str] = mapped_column(String(100))
    dxp_id: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)   # 0033: no API access

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
