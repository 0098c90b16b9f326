"""The auditor's pages: an order's evidence (what was sent, every receipt with its raw bytes, the
audit records about it and the chain check) and its evidence bundle in one click
(gateway/service/evidence.py, verifiable offline with ``gateway audit verify``)."""
from __future__ import annotations

import json

from flask import g, render_template

from gateway.service import audit as audit_service
from gateway.service.evidence import order_bundle_bytes, receipts_for
from gateway.store import models as m

from .access import download, scoped
from .blueprint import bp, gateway
from .orders import _scoped_order, _signature
from .session import login_required, record_auditor_read


@bp.get("/evidence/<order_id>")
@login_required("auditor")
def evidence(order_id: str):
    o = _scoped_order(order_id)
    gw = gateway()
    with gw.uow_factory() as uow:
        filings = uow.filings.for_order(o.tenant_id, o.id)
        sent = [{"id": f.id, "message_type": f.message_type, "agency": f.agency, "guid": f.guid, "state": f.state,
                 "sha256": f.sha256, "created_at": f.created_at, "built_with": json.loads(f.built_with),
                 "signature": _signature(bytes(f.signed_bytes))} for f in filings]
        receipts = [{"id": r.id, "adapter": r.adapter, "outcome": r.outcome, "info": r.info, "sha256": r.sha256,
                     "received_at": r.received_at, "size": len(r.raw)}
                    for r in receipts_for(uow.session, [f.id for f in filings])]
        subjects = [("order", o.id)] + [("filing", f.id) for f in filings]
        events = [{"id": e.id, "at": e.at, "action": e.action, "subject": f"{e.subject_type} {e.subject_id}",
                   "hash": e.hash}
                  for st, sid in subjects for e in uow.audit.for_subject(st, sid)]
    events.sort(key=lambda e: e["id"])
    report = audit_service.check_database(gw.uow_factory, evidence=True)
    record_auditor_read(g.who, o.tenant_id)
    return render_template("evidence.html", order=o, sent=sent, receipts=receipts, events=events,
                           chain={"ok": report.ok, "summary": report.summary("audit chain")})


@bp.get("/receipts/<int:receipt_id>/raw")
@login_required("auditor")
def receipt_raw(receipt_id: int):
    r = scoped(m.Receipt, receipt_id, "receipt")
    record_auditor_read(g.who, r.tenant_id)
    return download(bytes(r.raw), "application/xml", f"receipt-{receipt_id}.xml", r.sha256)


@bp.get("/evidence/<order_id>/bundle")
@login_required("auditor")
def bundle(order_id: str):
    o = _scoped_order(order_id)
    data = order_bundle_bytes(gateway(), o.id, o.tenant_id, f"auditor:{g.who.auditor_id}")
    record_auditor_read(g.who, o.tenant_id)
    return download(data, "application/zip", f"evidence-{o.id}.zip")
