"""Tables of the trust work (issue 9): the enterprise codes each tenant may file under, customs'
179 calls (idempotency per order and session).

On the one ``Base`` of ``models/base.py``; ``models/__init__.py`` imports them with the others."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, _tenant_fk, utcnow


class TenantEnterprise(Base):
    """An enterprise code (customs code, credit code or CIQ code) a tenant may name in its orders,
    besides its own transmitting-enterprise code (migration 0032)."""

    __tablename__ = "tenant_enterprises"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    code: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Realtime179Call(Base):
    """One platDataOpen call of customs that queued an upload: a repeated (order, sessionID) of the
    same tenant is answered without a second upload (migration 0034)."""

    __tablename__ = "realtime179_calls"
    __table_args__ = (UniqueConstraint("tenant_id", "order_no", "session_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    order_no: Mapped[str] = mapped_column(String(60))
    session_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(45), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
