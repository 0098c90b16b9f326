"""Changing a filing's state and its order's combined status, in the caller's transaction, with
the audit event and the webhook events of the change written in that same transaction.

Concurrency: every change takes the order's row lock first (PostgreSQL ``FOR UPDATE``; SQLite
transactions are exclusive already), so two workers applying receipts of two filings of one order
cannot both compute the combined status from a stale view.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import load_only

from gateway.domain import status as st
from gateway.store.models import Filing, Order, OutboxItem, ReceiptEvent

from .reversals import after_state_change  # a reversal acts on its inventory
from .webhooks import EVENT_FILING, EVENT_ORDER, WebhookEvents


class StateKeeper:
    def __init__(self, clock, events: WebhookEvents):
        self.clock = clock
        self.events = events

    def lock_order(self, uow, tenant_id: str, order_id: str) -> Order | None:
        stmt = select(Order).where(Order.tenant_id == tenant_id, Order.id == order_id)
        if uow.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        order = uow.session.scalars(stmt.execution_options(populate_existing=True)).first()
        # the session's identity map holds objects weakly: keep the locked order for this transaction
        uow.session.info.setdefault("gateway.locked_orders", {})[order_id] = order
        return order

    def fresh(self, uow, filing: Filing) -> Filing:
        """Take the order lock, then re-read the filing (its state may have moved since it was
        loaded). On SQLite the whole transaction is exclusive (BEGIN IMMEDIATE): nothing moved."""
        self.lock_order(uow, filing.tenant_id, filing.order_id)
        if uow.session.get_bind().dialect.name != "sqlite":
            uow.session.refresh(filing, attribute_names=["state", "last_status_code", "updated_at"])
        return filing

    def set_state(self, uow, filing: Filing, state: str, code: str | None, info: str | None, result) -> None:
        before, before_code = filing.state, filing.last_status_code
        filing.state = state
        if code is not None:
            filing.last_status_code = code
        filing.updated_at = self.clock.now()
        uow.audit.record(filing.tenant_id, "filing", filing.id, "filing.state",
                         {"from": before, "to": state, "code": code, "info": info})
        order = _order(uow, filing.tenant_id, filing.order_id)
        self.events.emit(uow, filing.tenant_id, EVENT_FILING, {
            "order_id": filing.order_id, "order_no": order.order_no if order else None, "filing_id": filing.id,
            "message_type": filing.message_type, "agency": filing.agency, "guid": filing.guid,
            "from": before, "to": state, "from_code": before_code, "status_code": filing.last_status_code,
            "info": info})
        self.refresh_order(uow, filing.tenant_id, filing.order_id, reason_hint=info, hint_for=filing.id)
        result.changed_orders.add(filing.order_id)
        after_state_change(self, uow, filing, before, state, result)

    def refresh_order(self, uow, tenant_id: str, order_id: str, reason_hint: str | None = None,
                      hint_for: str | None = None) -> None:
        order = _order(uow, tenant_id, order_id)
        if order is None:
            raise LookupError(f"order {order_id} of tenant {tenant_id} not found")
        stmt = (select(Filing)
                .options(load_only(Filing.id, Filing.tenant_id, Filing.order_id, Filing.message_type, Filing.agency,
                                   Filing.state, Filing.sequence, Filing.app_type, Filing.corrects_id))
                .where(Filing.tenant_id == tenant_id, Filing.order_id == order_id)
                .order_by(Filing.sequence, Filing.created_at, Filing.id))
        filings = list(uow.session.scalars(stmt))
        views = [st.FilingView(f.message_type, f.agency, f.state,
                               _reason(uow, f, reason_hint if f.id == hint_for else None),
                               id=f.id, app_type=f.app_type or "1", corrects=f.corrects_id) for f in filings]
        status, reason = st.combined_status(views)
        if (status, reason) != (order.status, order.status_reason):
            uow.audit.record(tenant_id, "order", order_id, "order.status",
                             {"from": order.status, "to": status, "reason": reason})
            self.events.emit(uow, tenant_id, EVENT_ORDER, {
                "order_id": order_id, "order_no": order.order_no, "from": order.status, "to": status,
                "reason": reason, "agencies": st.per_agency(views)})
            order.status, order.status_reason = status, reason
            order.updated_at = self.clock.now()


def _order(uow, tenant_id: str, order_id: str) -> Order | None:
    """The order, from the session's identity map when it is loaded already (it is, once locked)."""
    order = uow.session.get(Order, order_id)
    return order if order is not None and order.tenant_id == tenant_id else None


def _reason(uow, filing, hint):
    if filing.state not in (st.REJECTED, st.RETURNED):
        return None
    rows = uow.session.scalars(select(ReceiptEvent).where(ReceiptEvent.filing_id == filing.id)
                               .order_by(ReceiptEvent.id)).all()
    for r in reversed(rows):
        if st.state_for(r.message_type, r.status_code or "") in (st.REJECTED, st.RETURNED) or r.message_type == "CEB900Message":
            return f"[{r.status_code}] {r.info}"
    if hint:
        return hint
    # refused before any receipt (by the transport, or not sent because an earlier filing failed)
    return uow.session.scalar(select(OutboxItem.last_error).where(OutboxItem.filing_id == filing.id))
