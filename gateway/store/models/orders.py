"""Orders, their body versions, filings, corrections, the buyers' annual amounts and raw payment data."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import AGENCIES, DIRECTIONS, Base, UTCDateTime, _in, _parent, _tenant_fk, utcnow
from .tenants import Tenant

# What an ``orders`` row holds (migration 0036): an order, or a document filed on its own by another party
# (docs/site-filings.md): a waybill status (CEB513), an entry list (CEB711), a return tally (CEB215) or a
# summary application listing inventories (CEB701), stored with its filings so the outbox, receipts, the
# combined status, webhooks, audit and the evidence bundle treat it as they treat an order.
ORDER_KINDS = ("order", "logistics-status", "entry-list", "return-tally", "summary")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("tenant_id", "platform_code", "order_no"),
        CheckConstraint(_in("direction", DIRECTIONS), name="direction"),
        CheckConstraint(_in("kind", ORDER_KINDS), name="kind"),
        # the order list's keyset (service/order_search.py): newest first within the tenant
        Index("ix_orders_tenant_received", "tenant_id", "received_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    order_no: Mapped[str] = mapped_column(String(60))
    # 'order', or the kind of a site filing (ORDER_KINDS): then order_no is the document's number,
    # platform_code the filing party's code, body the JSON document exactly as received (0036)
    kind: Mapped[str] = mapped_column(String(20), default="order", server_default="order")
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
    __table_args__ = (
        CheckConstraint(_in("agency", AGENCIES), name="agency"),
        Index("ix_filings_tenant_order_sequence", "tenant_id", "order_id", "sequence"),   # 0009; 0039: the only
        Index("ix_filings_message_type_state", "message_type", "state"),                  # one by tenant; 0038
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk(index=False)
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
