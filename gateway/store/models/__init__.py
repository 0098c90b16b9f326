"""SQLAlchemy models: plain persistence classes, one ``Base``, no business logic, no XML.

Conventions
- Ids are 36-character upper-case UUID strings chosen by the caller (the service layer's id
  generator), except the append-only logs (outbox, receipts, audit_events), which autoincrement.
- Every business row carries ``tenant_id``; repositories in ``uow.py`` always filter on it.
- JSON lives in ``Text`` columns (``body`` keeps the order exactly as received); money stays
  inside that JSON as strings, never as floats.
- Times are timezone-aware: ``UTCDateTime`` refuses naive datetimes, stores UTC and always
  returns aware UTC datetimes, on SQLite as well as PostgreSQL.
- One module per area (tenants, orders, delivery, audit, trust) on ``base``; this package imports
  every model, so ``from gateway.store.models import X`` and Alembic's ``Base.metadata`` see them all.
- Constraint names come from ``NAMING_CONVENTION`` so Alembic autogenerate stays stable.
"""
from __future__ import annotations

from .audit import AuditChainHead, AuditCheckpoint, AuditEvent, Auditor, AuditorGrant
from .base import (
    AGENCIES,
    DIRECTIONS,
    NAMING_CONVENTION,
    OUTBOX_STATES,
    RECEIPT_EVENT_OUTCOMES,
    RECEIPT_OUTCOMES,
    Base,
    UTCDateTime,
    utcnow,
)
from .delivery import (
    BREAKER_STATES,
    WEBHOOK_DELIVERY_STATES,
    Breaker,
    BreakerTransition,
    KvCursor,
    OutboxItem,
    Receipt,
    ReceiptEvent,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from .idempotency import IdempotencyRecord
from .orders import (
    ANNUAL_ENTRY_KINDS,
    CORRECTION_KINDS,
    ORDER_KINDS,
    BuyerAnnualAmount,
    Correction,
    Filing,
    Order,
    OrderVersion,
    PaymentRaw,
)
from .tenants import KEY_TYPES, ApiKey, SigningKey, Tenant
from .trust import Realtime179Call, TenantEnterprise

__all__ = [
    "IdempotencyRecord",
    "NAMING_CONVENTION",
    "DIRECTIONS",
    "AGENCIES",
    "OUTBOX_STATES",
    "RECEIPT_OUTCOMES",
    "RECEIPT_EVENT_OUTCOMES",
    "utcnow",
    "UTCDateTime",
    "Base",
    "Tenant",
    "ApiKey",
    "Order",
    "Filing",
    "OutboxItem",
    "Receipt",
    "ReceiptEvent",
    "AuditEvent",
    "KvCursor",
    "AuditChainHead",
    "AuditCheckpoint",
    "Auditor",
    "AuditorGrant",
    "BREAKER_STATES",
    "WEBHOOK_DELIVERY_STATES",
    "Breaker",
    "BreakerTransition",
    "Webhook",
    "WebhookDelivery",
    "WebhookAttempt",
    "KEY_TYPES",
    "SigningKey",
    "ANNUAL_ENTRY_KINDS",
    "BuyerAnnualAmount",
    "PaymentRaw",
    "CORRECTION_KINDS",
    "ORDER_KINDS",
    "Correction",
    "OrderVersion",
    "TenantEnterprise",
    "Realtime179Call",
]
