"""Held orders: what customs would refuse is not signed or sent (issue 11).

At intake an order that breaks a customs rule known before sending (``gateway.domain.agencies.HOLD_RULES``:
the single-transaction limit, e-port −621005) is stored with status "held", the rule and why in its
status reason, and no filing: nothing is built, signed, queued or counted toward the buyer's annual
amount. The operator may release it (``release_held``: API ``POST /v1/operator/tenants/<t>/orders/<id>/release``,
CLI ``gateway order release``) with a reason: its filings are then built, signed and queued exactly as at
intake (the tax as the rules give it: none for an order over the single limit), in one transaction
with the status change and an ``order.released`` audit event naming the rules and the reason.

Why held and not refused (422): the order is well-formed and the platform has taken the buyer's money;
the filer needs it kept, visible and traceable (the same order number cannot silently come back
different), and only someone who knows better (a customs agreement, a wrong limit in our rules) may
send it anyway. A refusal would leave nothing to release.
"""
from __future__ import annotations

import json

from sqlalchemy import update

from gateway.declarations.common import Transfer
from gateway.domain import status as st
from gateway.domain.common.dates import china_date
from gateway.domain.common.schema import loads
from gateway.domain.date_window import DEFAULT_WINDOW, DateWindow
from gateway.domain.parse import parse_order as parse_any
from gateway.domain.problems import OrderInvalid, Problem
from gateway.store import models as m

from . import agencies
from .declare import Declarer
from .filing_rows import FilingRows
from .orders import NotFound, OrderConflict, Submitted

MAX_REASON = 500


class NotHeld(Exception):
    """The order is not (or no longer) held: nothing to release."""


def release_held(uow_factory, declarer: Declarer, key, clock, ids, tenant_id: str, order_id: str,
                 adapter="sandbox", *, reason: str, window: DateWindow = DEFAULT_WINDOW) -> Submitted:
    """Release a held order: build, sign and queue its filings. Raises NotFound, NotHeld, OrderInvalid
    (no reason given; or a rule that refuses at intake now applies, e.g. the annual limit), FilingInvalid."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason or len(reason) > MAX_REASON:
        raise OrderInvalid([Problem("$.reason", "release-reason",
                                    f"the operator says why the held order is sent anyway (1..{MAX_REASON} characters)")])
    now = clock.now()
    with uow_factory() as uow:
        row = uow.orders.get(tenant_id, order_id)
        if row is None:
            raise NotFound(f"order {order_id}")
        if row.status != st.ORDER_HELD:
            raise NotHeld(f"order {order_id} is {row.status}, not held: nothing to release")
        normalized = json.loads(row.normalized)
        order = parse_any(loads(row.body), on=row.received_at, window=window)
        [assessment], reads = agencies.assess_batch(uow, [order], china_date(now))
        cop_no = row.cop_no
        holds = [h["rule"] for h in (normalized.get("agencies") or {}).get("holds", [])]
    if isinstance(assessment, OrderInvalid):
        raise assessment
    if callable(key):                    # the tenant's key, once the order is known to be theirs and held
        key = key(tenant_id)
    transfer = Transfer(**normalized["transfer"])
    built_with = declarer.built_with(key)
    built = declarer.declare(order, transfer=transfer, key=key, app_time=now, cop_no=cop_no, assessment=assessment)
    release = {"at": now.isoformat(), "reason": reason, "rules": holds}
    normalized.update(app_time=now.isoformat(), built_with=built_with, agencies=assessment.as_json(),
                      release=release)
    with uow_factory() as uow:
        if not agencies.annual_unchanged(uow, reads):
            raise OrderConflict("the buyer's annual CBEC amount changed while the order was built: release it again")
        moved = uow.session.execute(
            update(m.Order).where(m.Order.id == order_id, m.Order.tenant_id == tenant_id,
                                  m.Order.status == st.ORDER_HELD)
            .values(status=st.IN_PROGRESS, status_reason=None, updated_at=now,
                    normalized=json.dumps(normalized, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                                          default=str))).rowcount
        if moved != 1:
            raise NotHeld(f"order {order_id} was released meanwhile")
        agencies.record_annual(uow, order, assessment, order_id, tenant_id)
        uow.audit.record(tenant_id, "order", order_id, "order.released", release)
        filing_rows = FilingRows(uow, tenant_id, adapter, now, built_with)
        filing_ids = filing_rows.add(ids, order_id, built)
        filing_rows.write()
        uow.commit()
    return Submitted(order_id, dict(zip([b.message_type for b in built], filing_ids, strict=True)), created=True)
