"""Changing a filing's state and its order's combined status, in the caller's transaction, with
the audit event and the webhook events of the change written in that same transaction.

Concurrency: every change takes the order's row lock first (PostgreSQL ``FOR UPDATE``; SQLite
transactions are exclusive already), so two workers applying receipts of two filings of one order
cannot both compute the combined status from a stale view. An order locked once stays locked for
the rest of its transaction: it is not read again (``lock_orders`` takes a whole batch's orders in
one statement, in id order, so two dispatchers never wait for each other in a cycle).

Batches (``with keeper.batched(uow):``): each order's combined status is recomputed once, when the
block ends, from its filings read in one statement, and the webhook deliveries of the batch's events
are inserted together (``WebhookEvents.batch``). With ``write_later=True`` (a batch of receipts or of
sends) the filings' states and the orders' statuses are also written together then, one executemany UPDATE
per table, instead of object by object through the ORM. ``fresh_many`` re-reads a batch's filings
under their orders' locks in one statement (PostgreSQL) instead of one ``fresh`` each.
"""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.orm import Session, load_only
from sqlalchemy.orm.attributes import set_committed_value

from gateway.domain import status as st
from gateway.store.models import Filing, Order, OutboxItem, ReceiptEvent

from .reversals import after_order_status, after_state_change  # a reversal acts on its inventory
from .webhooks import EVENT_FILING, EVENT_ORDER, WebhookEvents

LOCKED = "gateway.locked_orders"
REFRESH_LATER = "gateway.orders_to_refresh"
WRITE_LATER = "gateway.state_writes"    # model -> id -> [object, changes] (batched(write_later=True))
FRESH = "gateway.fresh_filings"      # filing ids re-read after their order was locked (this transaction)


# the columns of a locked order that the combined status and its events read (the rest, the body above all, is
# loaded only if something asks for it)
_ORDER_COLUMNS = load_only(Order.id, Order.tenant_id, Order.order_no, Order.status, Order.status_reason,
                           Order.updated_at)


class StateKeeper:
    def __init__(self, clock, events: WebhookEvents):
        self.clock = clock
        self.events = events

    def lock_order(self, uow, tenant_id: str, order_id: str) -> Order | None:
        locked = uow.session.info.get(LOCKED, {})
        if order_id in locked and locked[order_id] is not None and locked[order_id].tenant_id == tenant_id:
            return locked[order_id]
        self.lock_orders(uow, {(tenant_id, order_id)})
        return uow.session.info[LOCKED].get(order_id)

    def lock_orders(self, uow, keys: set[tuple[str, str]]) -> None:
        """Lock (tenant id, order id) pairs in one statement, in id order."""
        locked = uow.session.info.setdefault(LOCKED, {})
        wanted = {order_id: tenant_id for tenant_id, order_id in keys if order_id not in locked}
        if not wanted:
            return
        stmt = (select(Order).options(_ORDER_COLUMNS)       # what a state change reads; the rest if ever needed
                .where(Order.tenant_id.in_(set(wanted.values())), Order.id.in_(list(wanted))).order_by(Order.id))
        if uow.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        # the session's identity map holds objects weakly: keep the locked orders for this transaction
        found = {o.id: o for o in uow.session.scalars(stmt.execution_options(populate_existing=True))
                 if wanted.get(o.id) == o.tenant_id}
        for order_id in wanted:
            locked[order_id] = found.get(order_id)

    @contextmanager
    def batched(self, uow, write_later: bool = False):
        """Within the block, state changes recompute their order's combined status once, at the end.
        ``write_later``: the filings' and orders' new states are also written together, one
        executemany UPDATE per table and set of columns when the block ends, instead of through the
        ORM's unit of work (the objects show them at once; the changed filings count as current)."""
        # the batch's webhook deliveries, the orders' events included: one INSERT after everything else
        with self.events.batch(uow), self._batched(uow, write_later):
            yield

    @contextmanager
    def _batched(self, uow, write_later: bool):
        later: dict[tuple[str, str], dict[str, str | None]] = {}
        uow.session.info[REFRESH_LATER] = later
        writes: dict = {}
        if write_later:
            uow.session.info[WRITE_LATER] = writes
        try:
            try:
                yield
            finally:
                uow.session.info.pop(REFRESH_LATER, None)
            _write(uow, writes)
            if not later:
                return
            uow.session.flush()      # the receipt events the orders' reasons read (autoflush may be off)
            # everything is written now: the orders' filings as plain rows (no ORM object to build each)
            filings: dict[str, list] = {}
            for f in uow.session.execute(_filing_rows(Filing.tenant_id.in_({t for t, _ in later}),
                                                      Filing.order_id.in_({o for _, o in later}))):
                filings.setdefault(f.order_id, []).append(f)
            for (tenant_id, order_id), hints in later.items():
                self.refresh_order(uow, tenant_id, order_id, hints=hints,
                                   filings=[f for f in filings.get(order_id, []) if f.tenant_id == tenant_id])
            _write(uow, writes)
        finally:
            uow.session.info.pop(WRITE_LATER, None)

    def fresh(self, uow, filing: Filing) -> Filing:
        """Take the order lock, then re-read the filing (its state may have moved since it was
        loaded). On SQLite the whole transaction is exclusive (BEGIN IMMEDIATE): nothing moved."""
        self.lock_order(uow, filing.tenant_id, filing.order_id)
        # changed in this transaction: that was after the lock, it is current (and not flushed yet);
        # re-read after the lock already (``fresh_many``): current too
        if (uow.session.get_bind().dialect.name != "sqlite" and filing not in uow.session.dirty
                and filing.id not in uow.session.info.get(FRESH, ())):
            uow.session.refresh(filing, attribute_names=["state", "last_status_code", "updated_at"])
        return filing

    def fresh_many(self, uow, filings) -> None:
        """``fresh`` for a batch's filings whose orders it locked already (``lock_orders``): their
        state re-read in one statement (not on SQLite, see ``fresh``)."""
        if uow.session.get_bind().dialect.name == "sqlite":
            return
        by_id = {f.id: f for f in filings if f not in uow.session.dirty
                 and uow.session.info.get(LOCKED, {}).get(f.order_id) is not None}
        current = uow.session.info.setdefault(FRESH, set())
        ids = sorted(by_id)
        for start in range(0, len(ids), 500):
            for f_id, state, code, updated_at in uow.session.execute(
                    select(Filing.id, Filing.state, Filing.last_status_code, Filing.updated_at)
                    .where(Filing.id.in_(ids[start:start + 500]))):
                filing = by_id[f_id]
                set_committed_value(filing, "state", state)
                set_committed_value(filing, "last_status_code", code)
                set_committed_value(filing, "updated_at", updated_at)
                current.add(f_id)

    def set_state(self, uow, filing: Filing, state: str, code: str | None, info: str | None, result) -> None:
        before = filing.state
        self._tell(uow, filing, state, code, info)
        changes = {"state": state, "updated_at": self.clock.now()}
        if code is not None:
            changes["last_status_code"] = code
        if _assign(uow, filing, changes):        # written when the batch ends; current (fresh) till then
            uow.session.info.setdefault(FRESH, set()).add(filing.id)
        later = uow.session.info.get(REFRESH_LATER)
        if later is None:
            self.refresh_order(uow, filing.tenant_id, filing.order_id, reason_hint=info, hint_for=filing.id)
        else:
            later.setdefault((filing.tenant_id, filing.order_id), {})[filing.id] = info
        result.changed_orders.add(filing.order_id)
        after_state_change(self, uow, filing, before, state, result)

    def moved(self, uow, filing, state: str, result) -> None:
        """``set_state(filing, state, None, None)`` for a filing the caller has already moved to
        ``state`` with a bulk UPDATE: ``filing`` is a plain row read before that UPDATE (id, tenant_id,
        order_id, message_type, agency, guid, state, last_status_code). The same audit record and
        webhook event; the order is recomputed when the ``batched`` block (it must be open) ends.
        Not for reversals (``after_state_change`` acts on them): the caller gives those to ``set_state``."""
        if filing.message_type in st.REVERSALS:
            raise ValueError("a reversal's state is changed by set_state")
        self._tell(uow, filing, state, None, None)
        uow.session.info[REFRESH_LATER].setdefault((filing.tenant_id, filing.order_id), {})[filing.id] = None
        result.changed_orders.add(filing.order_id)

    def _tell(self, uow, filing, state: str, code: str | None, info: str | None) -> None:
        """The audit record and the webhook event of ``filing`` (as it is before) moving to ``state``."""
        uow.audit.record(filing.tenant_id, "filing", filing.id, "filing.state",
                         {"from": filing.state, "to": state, "code": code, "info": info})
        order = _order(uow, filing.tenant_id, filing.order_id)
        self.events.emit(uow, filing.tenant_id, EVENT_FILING, {
            "order_id": filing.order_id, "order_no": order.order_no if order else None, "filing_id": filing.id,
            "message_type": filing.message_type, "agency": filing.agency, "guid": filing.guid,
            "from": filing.state, "to": state, "from_code": filing.last_status_code,
            "status_code": code if code is not None else filing.last_status_code, "info": info})

    def refresh_order(self, uow, tenant_id: str, order_id: str, reason_hint: str | None = None,
                      hint_for: str | None = None, hints: dict[str, str | None] | None = None,
                      filings: list | None = None) -> None:
        """Recompute the order's combined status (``filings``: the order's filings in sequence order,
        when the caller read them already: Filing objects or ``_filing_rows`` rows)."""
        hints = dict(hints or {})
        if hint_for is not None:
            hints[hint_for] = reason_hint
        order = _order(uow, tenant_id, order_id)
        if order is None:
            raise LookupError(f"order {order_id} of tenant {tenant_id} not found")
        if filings is None:
            filings = list(uow.session.scalars(_filings_of(Filing.tenant_id == tenant_id, Filing.order_id == order_id)))
        views = [st.FilingView(f.message_type, f.agency, f.state,
                               _reason(uow, f, hints.get(f.id)),
                               id=f.id, app_type=f.app_type or "1", corrects=f.corrects_id) for f in filings]
        status, reason = st.combined_status(views)
        if (status, reason) != (order.status, order.status_reason):
            uow.audit.record(tenant_id, "order", order_id, "order.status",
                             {"from": order.status, "to": status, "reason": reason})
            self.events.emit(uow, tenant_id, EVENT_ORDER, {
                "order_id": order_id, "order_no": order.order_no, "from": order.status, "to": status,
                "reason": reason, "agencies": st.per_agency(views)})
            before = order.status
            _assign(uow, order, {"status": status, "status_reason": reason, "updated_at": self.clock.now()})
            after_order_status(self, uow, order, before, filings)   # a rejection gives the annual amount back


def _assign(uow, obj, changes: dict) -> bool:
    """Set ``changes`` on ``obj`` (a Filing or an Order). In a ``batched(write_later=True)`` block, as
    its committed state (not dirty for the ORM: the object is held, and written, by the batch); True then."""
    writes = uow.session.info.get(WRITE_LATER)
    if writes is None:
        for name, value in changes.items():
            setattr(obj, name, value)
        return False
    for name, value in changes.items():
        set_committed_value(obj, name, value)
    writes.setdefault(type(obj), {}).setdefault(obj.id, [obj, {}])[1].update(changes)
    return True


def _write(uow, writes: dict) -> None:
    """The batch's changes of filings and orders (``_assign``): one executemany UPDATE per table and set
    of columns."""
    for model, rows in writes.items():
        table = model.__table__
        groups: dict[tuple[str, ...], list[dict]] = {}
        for obj_id, (_, changes) in rows.items():
            groups.setdefault(tuple(sorted(changes)), []).append({"_id": obj_id, **changes})
        for columns, params in groups.items():
            uow.session.execute(update(table).where(table.c.id == bindparam("_id"))
                                .values({c: bindparam(c) for c in columns}), params)
    writes.clear()


def _filing_rows(*where):
    """``_filings_of`` as plain rows (id, tenant_id, order_id, message_type, agency, state, app_type,
    corrects_id): what the combined status and ``after_order_status`` read."""
    return (select(Filing.id, Filing.tenant_id, Filing.order_id, Filing.message_type, Filing.agency, Filing.state,
                   Filing.app_type, Filing.corrects_id)
            .where(*where).order_by(Filing.sequence, Filing.created_at, Filing.id))


def _filings_of(*where):
    """Orders' filings in sequence order, with the columns the combined status reads, as objects: outside a
    batch the identity map gives back the filings changed in this transaction with their new state, even
    unflushed (the dispatcher's sessions may not autoflush); a batch flushes and reads ``_filing_rows``."""
    return (select(Filing)
            .options(load_only(Filing.id, Filing.tenant_id, Filing.order_id, Filing.message_type, Filing.agency,
                               Filing.state, Filing.sequence, Filing.app_type, Filing.corrects_id))
            .where(*where).order_by(Filing.sequence, Filing.created_at, Filing.id))


def _order(uow, tenant_id: str, order_id: str) -> Order | None:
    """The order: the one this transaction locked (``lock_orders`` keeps them), else from the session's
    identity map or the database."""
    order = uow.session.info.get(LOCKED, {}).get(order_id)
    if order is None:
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


@event.listens_for(Session, "after_transaction_end")
def _forget_locks(session: Session, transaction) -> None:
    if transaction.parent is None:       # the outermost transaction ended: its locks are gone
        session.info.pop(LOCKED, None)
        session.info.pop(FRESH, None)
