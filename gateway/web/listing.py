"""The console's order list: filters, search, counts per status and a cursor (newest first).

Written here until the service's listing (gateway/service/listing.py, for GET /v1/orders) lands on
main; ``list_orders`` keeps to one small signature so the console can switch to it by changing
this module only. The cursor is opaque to the page: base64 of "received_at|id" of the last row shown.

Search: the order number (exact or prefix), or any text of the order as received (waybill number,
buyer name or id, …) by a substring match on the stored body. Filters are exact.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from gateway.domain import status as st
from gateway.service.evidence import day_start
from gateway.store import models as m

PAGE_SIZE = 50
STATUSES = ("received", "in_progress", "released", "rejected", "cancelled", "returned")
AGENCY_STATES = tuple(sorted(st.RANK))
REGIMES = ("1210", "9610", "1239", "0110")


class FilterInvalid(ValueError):
    """A filter value is wrong: the message names the field and the rule."""


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    agency: str | None = None          # with agency_state: orders with a filing of that agency in that state
    agency_state: str | None = None
    regime: str | None = None
    direction: str | None = None
    tenant: str | None = None          # an auditor granted several tenants narrows to one
    date_from: date | None = None      # received on or after (China day)
    date_to: date | None = None        # received on or before (China day)
    q: str | None = None

    @classmethod
    def from_args(cls, args) -> Filters:
        def one(name: str, allowed) -> str | None:
            value = (args.get(name) or "").strip() or None
            if value is not None and value not in allowed:
                raise FilterInvalid(f"{name}: must be one of {', '.join(allowed)} (got {value!r})")
            return value

        def day(name: str) -> date | None:
            text = (args.get(name) or "").strip()
            if not text:
                return None
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise FilterInvalid(f"{name}: must be a date like 2026-11-20 (got {text!r})") from None

        q = (args.get("q") or "").strip()
        if len(q) > 100:
            raise FilterInvalid("q: at most 100 characters")
        return cls(status=one("status", STATUSES), agency=one("agency", m.AGENCIES),
                   agency_state=one("agency_state", AGENCY_STATES), regime=one("regime", REGIMES),
                   direction=one("direction", m.DIRECTIONS), tenant=(args.get("tenant") or "").strip() or None,
                   date_from=day("from"), date_to=day("to"), q=q or None)


@dataclass
class Page:
    orders: list[dict]
    counts: dict[str, int]             # per combined status, with the filters other than status
    next_cursor: str | None
    total: int = 0
    filters: Filters = field(default_factory=Filters)


def encode_cursor(received_at: datetime, order_id: str) -> str:
    return base64.urlsafe_b64encode(f"{received_at.isoformat()}|{order_id}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        at, order_id = raw.split("|", 1)
        return datetime.fromisoformat(at), order_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise FilterInvalid("cursor: not a cursor this list gave (start again from the first page)") from None


def _where(tenant_ids: tuple[str, ...], f: Filters) -> list[ColumnElement[bool]]:
    tenants = [t for t in tenant_ids if f.tenant in (None, t)]
    conditions: list[ColumnElement[bool]] = [m.Order.tenant_id.in_(tenants)]
    if f.regime:
        conditions.append(m.Order.regime == f.regime)
    if f.direction:
        conditions.append(m.Order.direction == f.direction)
    if f.date_from:
        conditions.append(m.Order.received_at >= day_start(f.date_from))
    if f.date_to:
        conditions.append(m.Order.received_at < day_start(date.fromordinal(f.date_to.toordinal() + 1)))
    if f.agency or f.agency_state:
        match = [m.Filing.order_id == m.Order.id]
        if f.agency:
            match.append(m.Filing.agency == f.agency)
        if f.agency_state:
            match.append(m.Filing.state == f.agency_state)
        conditions.append(exists().where(and_(*match)).correlate(m.Order))
    if f.q:
        like = f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(or_(m.Order.order_no.like(like + "%", escape="\\"),
                              m.Order.body.like("%" + like + "%", escape="\\")))
    return conditions


def list_orders(uow_factory, tenant_ids: tuple[str, ...], filters: Filters, cursor: str | None = None,
                limit: int = PAGE_SIZE) -> Page:
    """One page of orders of ``tenant_ids`` (the caller's scope, never wider), newest first."""
    base = _where(tenant_ids, filters)
    stmt = select(m.Order.id, m.Order.tenant_id, m.Order.order_no, m.Order.regime, m.Order.direction,
                  m.Order.status, m.Order.status_reason, m.Order.received_at).where(*base)
    if filters.status:
        stmt = stmt.where(m.Order.status == filters.status)
    if cursor:
        at, order_id = decode_cursor(cursor)
        stmt = stmt.where(or_(m.Order.received_at < at, and_(m.Order.received_at == at, m.Order.id < order_id)))
    stmt = stmt.order_by(m.Order.received_at.desc(), m.Order.id.desc()).limit(limit + 1)
    with uow_factory() as uow:
        rows = uow.session.execute(stmt).all()
        counts = dict(uow.session.execute(select(m.Order.status, func.count()).where(*base)
                                          .group_by(m.Order.status)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    orders = [{"id": r.id, "tenant_id": r.tenant_id, "order_no": r.order_no, "regime": r.regime,
               "direction": r.direction, "status": r.status, "status_reason": r.status_reason,
               "received_at": r.received_at} for r in rows]
    next_cursor = encode_cursor(rows[-1].received_at, rows[-1].id) if more and rows else None
    return Page(orders, {s: int(counts.get(s, 0)) for s in sorted(set(STATUSES) | set(counts))}, next_cursor,
                total=sum(counts.values()), filters=filters)
