"""What a reversal does once customs accepted it: the inventory it reverses moves to ``cancelled`` /
``refunded``; an import cancellation, or a return of the whole order, gives the buyer's annual amount
back (2020 No.45). A customs filing of the order refused (the order's combined status becomes
``rejected``: the inventory will not be released as declared) gives it back as well.
Called by the state keeper (state.py) in the transaction that applies the receipt. The ledger gives an
order's amount back once (gateway/store/annual.py restore): a duplicate receipt does not move the
filing again, and a second release finds the first one and records nothing."""
from __future__ import annotations

import json

from sqlalchemy import select

from gateway.domain import status as st
from gateway.store import annual
from gateway.store import models as m


def after_state_change(keeper, uow, filing, before: str, after: str, result) -> None:
    """A reversal that reached its final good state acts on its inventory: cancelled (CEB623/605) or
    refunded (CEB625/213); an import cancellation or a return of the whole order gives the buyer's
    annual amount back (2020 No.45). Runs in the transaction that applied the receipt; once per reversal."""
    if filing.message_type not in st.REVERSALS or filing.corrects_id is None:
        return
    done_now = st.correction_done(st.FilingView(filing.message_type, filing.agency, after))
    done_before = st.correction_done(st.FilingView(filing.message_type, filing.agency, before))
    if not done_now or done_before:
        return
    target = uow.session.get(m.Filing, filing.corrects_id)
    if target is None:
        return
    _, new_state = st.REVERSALS[filing.message_type]
    keeper.fresh(uow, target)
    if target.state not in st.REVERSED:
        keeper.set_state(uow, target, new_state, None,
                         f"{filing.message_type} {filing.guid} accepted (status {filing.last_status_code})", result)
    if filing.message_type == "CEB623Message":
        release(keeper, uow, filing, "cancelled", f"{filing.message_type} {filing.guid} concluded (撤单)")
        return
    if filing.message_type != "CEB625Message":
        return
    correction = uow.session.scalar(select(m.Correction).where(m.Correction.filing_id == filing.id))
    detail = json.loads(correction.detail) if correction is not None else {}
    now = keeper.clock.now()
    if not detail.get("complete"):
        uow.audit.record(filing.tenant_id, "order", filing.order_id, "annual.kept",
                         {"filing_id": filing.id, "reason": "partial return: the ledger gives back whole orders "
                          "only (gateway/store/annual.py restore)"}, at=now)
        return
    release(keeper, uow, filing, "returned", None)


def after_order_status(keeper, uow, order, before: str, filings) -> None:
    """The order became ``rejected`` (a refused correction does not do that) because customs refused
    one of its customs filings: the buyer's annual amount is given back. Called by ``refresh_order``
    (after a batch of receipts too), in the transaction that applied them."""
    if order.status != st.ORDER_REJECTED or before == st.ORDER_REJECTED:
        return
    refused = [f for f in filings if f.agency == "customs" and f.state == st.REJECTED]
    if refused:
        release(keeper, uow, refused[0], "rejected", order.status_reason)


def release(keeper, uow, filing, why: str, info: str | None) -> None:
    """Give the order's annual amount back once (``why``: returned, cancelled, rejected), audited as
    ``annual.restored`` (or ``annual.kept`` when the order was never counted); nothing when it was
    given back already (a second refusal, a duplicate receipt)."""
    if annual.restored(uow, filing.order_id) is not None:
        return
    now = keeper.clock.now()
    entry = annual.restore(uow, filing.order_id, tenant_id=filing.tenant_id, at=now)
    if entry is None and why == "rejected":
        return          # an order never counted (export, general trade): nothing to tell for a refusal
    uow.audit.record(filing.tenant_id, "order", filing.order_id, "annual.restored" if entry is not None else "annual.kept",
                     {"filing_id": filing.id, "why": why, "info": info,
                      "amount": entry.amount if entry is not None else None,
                      "reason": None if entry is not None else "the order was never counted toward the annual amount"},
                     at=now)
