"""/v1/audit: read-only access for auditors, to the tenants they were granted.

Authenticated by an auditor key (``gateway audit auditor create``), never by a tenant key. Every
request that reads anything is itself recorded in the audit chain (``auditor.read``: who, what
path, which tenant) in the same transaction as the read; reads of a tenant not granted answer
404, as if the thing did not exist.

    GET /v1/audit/tenants                              tenants granted
    GET /v1/audit/tenants/<tenant>/orders?from=&to=    orders received in [from, to) (China days), oldest first
    GET /v1/audit/orders/<order>                       stored order, filings, receipts, versions
    GET /v1/audit/orders/<order>/body                  the order exactly as received
    GET /v1/audit/orders/<order>/bundle                its evidence bundle (zip)
    GET /v1/audit/filings/<filing>/xml                 the exact signed bytes sent
    GET /v1/audit/receipts/<receipt>/raw               a raw receipt exactly as received
    GET /v1/audit/events?tenant=&subject_type=&subject_id=   audit records, in chain order
    GET /v1/audit/chain/verify                         the chain, its head and checkpoints

The lists take ``limit`` and ``cursor`` (the one scheme of every list: api/paging.py, service/listing.py).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date
from functools import wraps

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from gateway.service import audit as audit_service
from gateway.service.listing import keyset_page
from gateway.store import models as m

from . import paging, params
from .contract import AUDITOR, DATE, doc, ref, text
from .errors import BadParameter
from .v1 import _api_key, _gateway, unauthorized

bp = Blueprint("audit", __name__, url_prefix="/v1/audit")
CHALLENGE = 'Bearer realm="gateway audit API"'
BINARY = {"type": "string"}


def auditor_required(view):
    """Authenticate the auditor (``g.auditor``), run the view, then record the read in the chain
    before answering: the view returns (response, tenant read or None). A read whose record cannot
    be committed is not answered. Views open their own unit of work (``_uow()``): on SQLite a
    second one inside an open one would wait for the first."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = _api_key()
        if not key:
            raise unauthorized("send the auditor API key as 'Authorization: Bearer <key>'", CHALLENGE)
        with _uow() as uow:
            auditor = audit_service.find_auditor(uow, key)
        if auditor is None:
            raise unauthorized("unknown or revoked auditor key", CHALLENGE + ', error="invalid_token"')
        g.auditor = auditor
        response, tenant_id = view(*args, **kwargs)
        with _uow() as uow:
            uow.audit.record(tenant_id, "auditor", auditor.id, "auditor.read",
                             {"path": request.path, "query": request.query_string.decode("utf-8", "replace"),
                              "auditor": auditor.name})
            uow.commit()
        return response

    return wrapper


@contextmanager
def _uow():
    """A unit of work whose rows stay readable after it closes (they are detached, not expired)."""
    with _gateway().uow_factory() as uow:
        try:
            yield uow
        finally:
            uow.session.expunge_all()


def _granted(tenant_id: str | None) -> str:
    if not tenant_id or tenant_id not in g.auditor.tenant_ids:
        raise NotFound("no such tenant among those granted to this auditor")
    return tenant_id


def _order(uow, order_id: str) -> m.Order:
    order = uow.session.scalar(select(m.Order).where(m.Order.id == order_id,
                                                    m.Order.tenant_id.in_(g.auditor.tenant_ids)))
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return order


def _day(name: str) -> date | None:
    text = request.args.get(name)
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadParameter(name, f"{text[:40]!r} is not a date like 2026-01-31") from None
    if not 1900 <= day.year <= 2999:
        raise BadParameter(name, f"{text!r}: the year is 1900..2999")
    return day


@bp.get("/tenants")
@doc("The tenants granted to this auditor", auth=AUDITOR, tags=("audit",), paged="tenants",
     responses={200: ref("AuditTenantPage")})
@auditor_required
def tenants():
    paging.only()

    def read(cursor, limit):
        with _uow() as uow:
            return keyset_page(uow.session, select(m.Tenant).where(m.Tenant.id.in_(g.auditor.tenant_ids)),
                               (m.Tenant.name, m.Tenant.id), kind="audit-tenants", filters={}, cursor=cursor,
                               limit=limit, view=lambda rows: [{"id": t.id, "name": t.name, "cop_code": t.cop_code,
                                                                "cop_name": t.cop_name, "dxp_id": t.dxp_id}
                                                               for t in rows])

    return paging.page(read, "tenants"), None


@bp.get("/tenants/<tenant_id>/orders")
@doc("A granted tenant's orders received in [from, to) (China days), oldest first", auth=AUDITOR, tags=("audit",),
     paged="orders", query={"from": (DATE, "first day"), "to": (DATE, "day after the last")},
     responses={200: ref("AuditOrderPage")})
@auditor_required
def tenant_orders(tenant_id: str):
    from gateway.service.evidence import day_start

    paging.only("from", "to")
    _granted(tenant_id)
    stmt = select(m.Order).where(m.Order.tenant_id == tenant_id)
    d_from, d_to = _day("from"), _day("to")
    if d_from:
        stmt = stmt.where(m.Order.received_at >= day_start(d_from))
    if d_to:
        stmt = stmt.where(m.Order.received_at < day_start(d_to))

    def read(cursor, limit):
        with _uow() as uow:
            return keyset_page(uow.session, stmt, (m.Order.received_at, m.Order.id), kind="audit-orders",
                               filters={"tenant": tenant_id, "from": d_from, "to": d_to}, cursor=cursor, limit=limit,
                               view=lambda rows: [{"id": o.id, "order_no": o.order_no, "regime": o.regime,
                                                   "status": o.status, "received_at": o.received_at.isoformat()}
                                                  for o in rows])

    return paging.page(read, "orders"), tenant_id


@bp.get("/orders/<order_id>")
@doc("A stored order with its filings, receipts and the versions they were built with", auth=AUDITOR,
     tags=("audit",), responses={200: ref("AuditOrder")})
@auditor_required
def order(order_id: str):
    with _uow() as uow:
        o = _order(uow, order_id)
        out = {"id": o.id, "tenant_id": o.tenant_id, "order_no": o.order_no, "regime": o.regime,
               "direction": o.direction, "platform_code": o.platform_code, "cop_no": o.cop_no, "status": o.status,
               "status_reason": o.status_reason, "received_at": o.received_at.isoformat(),
               "normalized": json.loads(o.normalized), "filings": []}
        for f in uow.filings.for_order(o.tenant_id, o.id):
            out["filings"].append({
                "id": f.id, "message_type": f.message_type, "agency": f.agency, "guid": f.guid,
                "sequence": f.sequence, "state": f.state, "status_code": f.last_status_code, "sha256": f.sha256,
                "built_with": json.loads(f.built_with),
                "receipts": [{"receipt_id": r.receipt_id, "message_type": r.message_type,
                              "status_code": r.status_code, "status_time": r.status_time, "info": r.info,
                              "outcome": r.outcome}
                             for r in uow.receipts.for_filing(f.id)]})
    return jsonify(out), o.tenant_id


@bp.get("/orders/<order_id>/body")
@doc("The order exactly as received", auth=AUDITOR, tags=("audit",), responses={200: ("application/json", {})})
@auditor_required
def order_body(order_id: str):
    with _uow() as uow:
        o = _order(uow, order_id)
    return Response(o.body, mimetype="application/json"), o.tenant_id


@bp.get("/orders/<order_id>/bundle")
@doc("The order's evidence bundle (zip; `gateway audit verify` checks it offline)", auth=AUDITOR, tags=("audit",),
     responses={200: ("application/zip", BINARY)})
@auditor_required
def order_bundle(order_id: str):
    from gateway.service.evidence import order_bundle_bytes

    with _uow() as uow:
        o = _order(uow, order_id)
    # it records evidence.exported itself; this request's read is recorded after it
    data = order_bundle_bytes(_gateway(), o.id, o.tenant_id, f"auditor:{g.auditor.id}")
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="evidence-{o.id}.zip"'}), o.tenant_id


@bp.get("/filings/<filing_id>/xml")
@doc("The exact signed bytes sent", auth=AUDITOR, tags=("audit",), responses={200: ("application/xml", BINARY)})
@auditor_required
def filing_xml(filing_id: str):
    with _uow() as uow:
        f = uow.session.scalar(select(m.Filing).where(m.Filing.id == filing_id,
                                                      m.Filing.tenant_id.in_(g.auditor.tenant_ids)))
    if f is None:
        raise NotFound(f"filing {filing_id} not found")
    return Response(bytes(f.signed_bytes), mimetype="application/xml",
                    headers={"Content-Disposition": f'inline; filename="{f.message_type}.xml"',
                             "X-Content-SHA256": f.sha256}), f.tenant_id


@bp.get("/receipts/<int:receipt_id>/raw")
@doc("A raw receipt exactly as received", auth=AUDITOR, tags=("audit",), responses={200: ("application/xml", BINARY)})
@auditor_required
def receipt_raw(receipt_id: int):
    with _uow() as uow:
        r = uow.session.get(m.Receipt, receipt_id)
    if r is None or r.tenant_id not in g.auditor.tenant_ids:
        raise NotFound(f"receipt {receipt_id} not found")
    return Response(bytes(r.raw), mimetype="application/xml", headers={"X-Content-SHA256": r.sha256}), r.tenant_id


@bp.get("/events")
@doc("A granted tenant's audit records, in chain order", auth=AUDITOR, tags=("audit",), paged="events",
     query={"tenant": (text(36), "the tenant (required)"), "subject_type": (text(), "e.g. order, filing"),
            "subject_id": (text(), "the subject's id")},
     responses={200: ref("AuditEventPage")})
@auditor_required
def events():
    paging.only("tenant", "subject_type", "subject_id")
    tenant_id = _granted(request.args.get("tenant"))
    subject_type, subject_id = params.text("subject_type"), params.text("subject_id")
    stmt = select(m.AuditEvent).where(m.AuditEvent.tenant_id == tenant_id)
    if subject_type:
        stmt = stmt.where(m.AuditEvent.subject_type == subject_type)
    if subject_id:
        stmt = stmt.where(m.AuditEvent.subject_id == subject_id)

    def read(cursor, limit):
        with _uow() as uow:
            return keyset_page(uow.session, stmt, (m.AuditEvent.id,), kind="audit-events",
                               filters={"tenant": tenant_id, "subject_type": subject_type, "subject_id": subject_id},
                               cursor=cursor, limit=limit, view=lambda rows: [_event(e) for e in rows])

    return paging.page(read, "events"), tenant_id


def _event(e: m.AuditEvent) -> dict:
    return {"id": e.id, "at": e.at.isoformat(), "tenant_id": e.tenant_id, "subject_type": e.subject_type,
            "subject_id": e.subject_id, "action": e.action, "detail": json.loads(e.detail), "prev_hash": e.prev_hash,
            "hash": e.hash}


@bp.get("/chain/verify")
@doc("Verify the audit chain, its head and the signed checkpoints", auth=AUDITOR, tags=("audit",),
     responses={200: ref("ChainReport")})
@auditor_required
def chain_verify():
    # the chain, its head and the signed checkpoints; the stored bytes of granted tenants are
    # proven per order by the bundles (/orders/<id>/bundle)
    report = audit_service.check_database(_gateway().uow_factory, evidence=False)
    return jsonify(dict(report.as_dict(), summary=report.summary("audit chain"))), None
