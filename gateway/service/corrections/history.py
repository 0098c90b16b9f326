"""Reading an order's corrections: versions, filings and what corrected them, deadlines."""
from __future__ import annotations

import json

from sqlalchemy import select

from gateway.domain import corrections as rules
from gateway.domain import status as st
from gateway.store import models as m

from ..orders import NotFound
from .records import _current, _released_at


def history(uow_factory, tenant_id: str, order_id: str, clock=None) -> dict:
    """The order's versions, every filing with what it corrects and what corrected it, the corrections
    and reversals with their reasons and deadlines, and the return window still open (if any)."""
    with uow_factory() as uow:
        order = uow.orders.get(tenant_id, order_id)
        if order is None:
            raise NotFound(f"order {order_id}")
        filings = sorted(uow.filings.for_order(tenant_id, order_id), key=lambda f: (f.created_at, f.id))
        corrections = list(uow.session.scalars(select(m.Correction).where(
            m.Correction.tenant_id == tenant_id, m.Correction.order_id == order_id)
            .order_by(m.Correction.requested_at, m.Correction.id)))
        versions = list(uow.session.scalars(select(m.OrderVersion).where(
            m.OrderVersion.tenant_id == tenant_id, m.OrderVersion.order_id == order_id).order_by(m.OrderVersion.version)))
        by_filing = {c.filing_id: c for c in corrections}
        corrected_by: dict[str, list[str]] = {}
        for f in filings:
            if f.corrects_id:
                corrected_by.setdefault(f.corrects_id, []).append(f.id)
        states = {f.id: f for f in filings}
        normalized = json.loads(order.normalized)
        out = {
            "order_id": order.id, "order_no": order.order_no, "direction": order.direction, "status": order.status,
            "status_reason": order.status_reason,
            "versions": [{"version": 1, "body_sha256": normalized.get("body_sha256"),
                          "at": order.received_at.isoformat()}]
                        + [{"version": v.version, "body_sha256": v.body_sha256, "at": v.created_at.isoformat()}
                           for v in versions],
            "filings": [], "corrections": [], "deadlines": [],
        }
        for f in filings:
            c = by_filing.get(f.id)
            out["filings"].append({
                "id": f.id, "message_type": f.message_type, "app_type": f.app_type, "guid": f.guid,
                "state": f.state, "status_code": f.last_status_code, "corrects": f.corrects_id,
                "corrected_by": corrected_by.get(f.id, []), "kind": c.kind if c else "original",
                "created_at": f.created_at.isoformat(),
                "receipts": [{"status_code": r.status_code, "time": r.status_time, "info": r.info,
                              "message_type": r.message_type, "outcome": r.outcome}
                             for r in uow.receipts.for_filing(f.id)],
            })
        for c in corrections:
            f = states.get(c.filing_id)
            out["corrections"].append({
                "id": c.id, "kind": c.kind, "filing_id": c.filing_id, "target_id": c.target_id,
                "message_type": f.message_type if f else None, "state": f.state if f else None,
                "reason": c.reason, "order_version": c.order_version,
                "due_by": c.due_by.isoformat() if c.due_by else None,
                "requested_at": c.requested_at.isoformat(), "detail": json.loads(c.detail)})
            if c.kind == "return" and c.due_by and f is not None and f.state != st.REJECTED:
                what = "goods-back-by" if order.direction == "import" else "export-return-by"
                out["deadlines"].append({"kind": what, "date": c.due_by.isoformat(), "correction_id": c.id,
                                         "rule": "2020 No.45: the goods back in the supervised site within 45 days "
                                                 "of release" if order.direction == "import" else
                                                 "2020 No.44: the goods back within 1 year of export release"})
        current = _current(filings)
        inventory = current.get("CEB621Message") or current.get("CEB603Message")
        if inventory is not None and inventory.state in (st.RELEASED, st.REFUNDED) and order.direction == "import":
            released_at = _released_at(uow, inventory)
            if released_at is not None:
                now = clock.now() if clock is not None else released_at
                window = rules.return_window(released_at, now)
                out["deadlines"].append({"kind": "return-apply-by", "date": window.apply_by.isoformat(),
                                         "rule": "2020 No.45: return application within 30 days of release",
                                         "open": window.open if clock is not None else None})
        return out
