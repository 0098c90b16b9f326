"""Finding a tenant's orders: filters, newest first, one page at a time (the cursor of
``service.listing``). The one search of ``GET /v1/orders`` and of the console's order list: it takes a
session and plain values, nothing of Flask. The scope is one tenant (the API) or the tenants of an
auditor's grant (the console); ``status_counts`` gives the console its count per status.

Filters (all optional, combined with AND):

    status          the combined status (received, held, in_progress, released, rejected, cancelled, returned,
                    deleted)
    agency          customs | inspection | tax | fx; with agency_status: an order having a filing of
    agency_status   that agency in that state (pending, sent, declared, accepted, review, inspection,
                    concluded, released, rejected, returned, withdrawn, cancelled, refunded)
    regime          1210 | 9610 | 1239 | 0110
    direction       import | export
    received_from   received at or after (an RFC 3339 date-time, or a date: 00:00 China time)
    received_to     received before (same forms)
    order_no        the order number, exactly
    waybill         the logistics (waybill) number, exactly: an order with a waybill filing for it
    q               text: the order number's start, or any text of the order as received (buyer name,
                    waybill number, …) by a substring match on the stored body (a scan: narrow it with
                    the other filters on a large tenant)

Keyset: ``(received_at, id)`` descending, over the index ``ix_orders_tenant_received``
(tenant_id, received_at, id).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time

from sqlalchemy import exists, func, or_, select

from gateway.domain import status as st
from gateway.domain.common.dates import CHINA_TZ
from gateway.store import models as m

from .listing import DEFAULT_LIMIT, Page, keyset_page

ORDER_STATUSES = (st.RECEIVED, st.ORDER_HELD, st.IN_PROGRESS, st.ORDER_RELEASED, st.ORDER_REJECTED, st.ORDER_CANCELLED,
                  st.ORDER_RETURNED, st.ORDER_DELETED)
FILING_STATES = tuple(sorted(st.RANK, key=lambda s: (st.RANK[s], s)))
REGIMES = ("1210", "9610", "1239", "0110")
WAYBILL_KEYS = ("waybill:", "export-waybill:")     # declarations.keys: <prefix><logistics code>|<number>


class FilterInvalid(ValueError):
    """A filter value is not allowed: ``name`` is the filter, the message the rule."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


@dataclass(frozen=True)
class OrderFilters:
    status: str | None = None
    agency: str | None = None
    agency_status: str | None = None
    regime: str | None = None
    direction: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    order_no: str | None = None
    waybill: str | None = None
    q: str | None = None

    NAMES = ("status", "agency", "agency_status", "regime", "direction", "received_from", "received_to",
             "order_no", "waybill", "q")

    @classmethod
    def from_text(cls, values: dict[str, str]) -> OrderFilters:
        """Filters from query-string text; FilterInvalid names the first bad one."""
        out: dict = {}
        for name, allowed in (("status", ORDER_STATUSES), ("agency", m.AGENCIES), ("agency_status", FILING_STATES),
                              ("regime", REGIMES), ("direction", m.DIRECTIONS)):
            value = values.get(name) or None
            if value is not None and value not in allowed:
                raise FilterInvalid(name, f"one of {', '.join(allowed)}")
            out[name] = value
        for name in ("received_from", "received_to"):
            out[name] = instant(name, values.get(name) or None)
        for name, most in (("order_no", 60), ("waybill", 60), ("q", 100)):
            value = values.get(name) or None
            if value is not None and (len(value) > most or not value.isprintable()):
                raise FilterInvalid(name, f"at most {most} printable characters")
            out[name] = value
        if out["agency_status"] and not out["agency"]:
            raise FilterInvalid("agency_status", "goes with agency (customs, inspection, tax or fx)")
        return cls(**out)

    def as_dict(self) -> dict:
        return asdict(self)


def instant(name: str, text: str | None) -> datetime | None:
    """An RFC 3339 date-time with its offset, or a date (its 00:00 China time)."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0, 0), tzinfo=CHINA_TZ)
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or not 1900 <= value.year <= 2999:
        raise FilterInvalid(name, "a date (2026-01-31) or a date-time with its offset (2026-01-31T08:00:00+08:00)")
    return value


def order_summary(o: m.Order) -> dict:
    return {"id": o.id, "order_no": o.order_no, "platform_code": o.platform_code, "regime": o.regime,
            "direction": o.direction, "status": o.status, "status_reason": o.status_reason,
            "received_at": o.received_at.isoformat(), "updated_at": o.updated_at.isoformat()}


Scope = str | Sequence[str]


def _tenants(scope: Scope) -> tuple[str, ...]:
    return (scope,) if isinstance(scope, str) else tuple(scope)


def order_query(scope: Scope, f: OrderFilters, what=None):
    """The orders of the tenant (or tenants) in ``scope`` that pass ``f``; ``what`` the selected
    columns (default the Order rows)."""
    tenants = _tenants(scope)
    stmt = select(*(what or (m.Order,))).where(m.Order.tenant_id.in_(tenants))
    same_tenant = m.Filing.tenant_id == m.Order.tenant_id
    for column, value in ((m.Order.status, f.status), (m.Order.regime, f.regime),
                          (m.Order.direction, f.direction), (m.Order.order_no, f.order_no)):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.received_from is not None:
        stmt = stmt.where(m.Order.received_at >= f.received_from)
    if f.received_to is not None:
        stmt = stmt.where(m.Order.received_at < f.received_to)
    if f.agency is not None:
        has = (m.Filing.order_id == m.Order.id) & same_tenant & (m.Filing.agency == f.agency)
        if f.agency_status is not None:
            has = has & (m.Filing.state == f.agency_status)
        stmt = stmt.where(exists().where(has))
    if f.waybill is not None:
        keys = [m.Filing.business_key.like(f"{p}%|{_escape(f.waybill)}", escape="\\") for p in WAYBILL_KEYS]
        stmt = stmt.where(exists().where((m.Filing.order_id == m.Order.id) & same_tenant & or_(*keys)))
    if f.q is not None:
        like = _escape(f.q)
        stmt = stmt.where(or_(m.Order.order_no.like(like + "%", escape="\\"),
                              m.Order.body.like("%" + like + "%", escape="\\")))
    return stmt


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _digest_values(scope: Scope, filters: OrderFilters) -> dict:
    """What a cursor is bound to: the filters, and the tenants when the scope is several."""
    values = filters.as_dict()
    if not isinstance(scope, str):
        values["tenants"] = ",".join(sorted(scope))
    return values


def list_orders(session, tenant_id: Scope, filters: OrderFilters | None = None, cursor: str | None = None,
                limit: int = DEFAULT_LIMIT) -> Page:
    """One page of the tenant's orders (or of several tenants': an auditor's grant), newest first;
    ``Page.next`` continues it (BadCursor when the cursor is not one of this list with these filters)."""
    filters = filters or OrderFilters()
    return keyset_page(session, order_query(tenant_id, filters), (m.Order.received_at, m.Order.id),
                       kind="orders", filters=_digest_values(tenant_id, filters), cursor=cursor, limit=limit,
                       descending=True, view=lambda rows: [order_summary(o) for o in rows])


def status_counts(session, scope: Scope, filters: OrderFilters | None = None) -> dict[str, int]:
    """How many orders per combined status pass every filter but ``status`` (the console's counts)."""
    stmt = order_query(scope, replace(filters or OrderFilters(), status=None), (m.Order.status, func.count()))
    counts = dict(session.execute(stmt.group_by(m.Order.status)).all())
    return {s: int(counts.get(s, 0)) for s in ORDER_STATUSES}
