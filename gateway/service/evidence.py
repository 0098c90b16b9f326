"""Exporting evidence bundles from the database (the format and its verifier: gateway.audit.bundle).

    result = export_order(gw.uow_factory, gw.key, gw.clock, order_id, "order.zip")
    result = export_tenant(gw.uow_factory, gw.key, gw.clock, tenant_id, date(2026, 1, 1), date(2026, 2, 1), "jan.zip")

A bundle holds the orders as received, each filing's exact signed bytes, the certificates, every
raw receipt, the stored rows (versions built with, app time, states) and the audit chain from
the first to the last record about them, extended to the next signed checkpoint so the slice is
anchored. Records in that range about anything else (other orders, other tenants) are reduced to
their digest: the links still recompute, their content stays private. The export itself is
recorded in the chain (``evidence.exported``) after the bundle is written.
"""
from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

from cryptography import x509
from lxml import etree
from sqlalchemy import func, or_, select

from gateway import __version__
from gateway.audit.bundle import CHAIN_FILE, CHECKPOINTS_FILE, BundleWriter
from gateway.audit.checkpoint import CheckpointInvalid
from gateway.audit.tombstone import is_tombstone
from gateway.domain.common.dates import CHINA_TZ
from gateway.store import audit_chain
from gateway.store import models as m

from .audit import AuditError, checkpoint_of

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_X509 = "{http://www.w3.org/2000/09/xmldsig#}X509Certificate"
_IN_CHUNK = 500


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sha256: str
    orders: int
    filings: int
    receipts: int
    records: int            # audit records in the chain slice
    manifest: dict


def day_start(d: date) -> datetime:
    """A calendar day starts at 00:00 China Standard Time (CEB times are Beijing times)."""
    return datetime.combine(d, time(0, 0), tzinfo=CHINA_TZ)


def export_order(uow_factory, key, clock, order_id: str, out: str | Path, *, tenant_id: str | None = None,
                 actor: str = "cli") -> ExportResult:
    with uow_factory() as uow:
        order = uow.orders.in_scope(order_id, tenant_id)
        if order is None:
            raise AuditError(f"order: no order {order_id}" + (f" for tenant {tenant_id}" if tenant_id else ""))
        return _export(uow, key, clock, order.tenant_id, [order], {"order": order_id}, Path(out), actor)


def order_bundle_bytes(gw, order_id: str, tenant_id: str, actor: str) -> bytes:
    """One order's evidence bundle as bytes (the API's and the console's download), built in a
    temporary folder; it records evidence.exported itself."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"evidence-{order_id}.zip"
        export_order(gw.uow_factory, gw.key, gw.clock, order_id, path, tenant_id=tenant_id, actor=actor)
        return path.read_bytes()


def export_tenant(uow_factory, key, clock, tenant_id: str, date_from: date, date_to: date, out: str | Path, *,
                  actor: str = "cli") -> ExportResult:
    """Every order of ``tenant_id`` received from ``date_from`` (inclusive) to ``date_to`` (exclusive)."""
    if date_to <= date_from:
        raise AuditError(f"--to ({date_to}) must be after --from ({date_from})")
    with uow_factory() as uow:
        if uow.tenants.get(tenant_id) is None:
            raise AuditError(f"tenant: no tenant {tenant_id}")
        orders = list(uow.session.scalars(
            select(m.Order).where(m.Order.tenant_id == tenant_id, m.Order.received_at >= day_start(date_from),
                                  m.Order.received_at < day_start(date_to)).order_by(m.Order.received_at, m.Order.id)))
        if not orders:
            raise AuditError(f"tenant {tenant_id} has no orders received from {date_from} to {date_to}")
        scope = {"tenant": tenant_id, "from": date_from.isoformat(), "to": date_to.isoformat()}
        return _export(uow, key, clock, tenant_id, orders, scope, Path(out), actor)


def _export(uow, key, clock, tenant_id: str, orders: list, scope: dict, out: Path, actor: str) -> ExportResult:
    session = uow.session
    now = clock.now()
    writer = BundleWriter(now)
    tenant = uow.tenants.get(tenant_id)
    writer.add_json("tenant.json", {"id": tenant.id, "name": tenant.name, "cop_code": tenant.cop_code,
                                    "cop_name": tenant.cop_name, "dxp_id": tenant.dxp_id,
                                    "created_at": tenant.created_at.isoformat()})
    subjects: set[tuple[str, str]] = set()
    n_filings = n_receipts = 0
    for order in orders:
        base = f"orders/{order.id}"
        subjects.add(("order", order.id))
        writer.add(f"{base}/order.json", order.body)
        filings = uow.filings.for_order(order.tenant_id, order.id)
        filing_rows, used = [], set()
        for f in filings:
            subjects.add(("filing", f.id))
            name = f"filings/{f.sequence}-{f.message_type}.xml"
            if name in used:
                name = f"filings/{f.sequence}-{f.message_type}-{f.id}.xml"
            used.add(name)
            data = bytes(f.signed_bytes)
            writer.add(f"{base}/{name}", data)
            cert = _certificate_of(data)
            if cert is not None:
                writer.add_certificate(cert)
            filing_rows.append({"id": f.id, "message_type": f.message_type, "agency": f.agency, "guid": f.guid,
                                "sequence": f.sequence, "state": f.state, "last_status_code": f.last_status_code,
                                "sha256": f.sha256, "business_key": f.business_key,
                                "built_with": _json_or_text(f.built_with), "created_at": f.created_at.isoformat(),
                                "file": name})
            n_filings += 1
        receipt_rows = []
        for r in receipts_for(session, [f.id for f in filings]):
            subjects.add(("receipt", str(r.id)))
            name = f"receipts/{r.id}.xml"
            writer.add(f"{base}/{name}", bytes(r.raw))
            events = session.scalars(select(m.ReceiptEvent).where(m.ReceiptEvent.receipt_id == r.id)
                                     .order_by(m.ReceiptEvent.id))
            receipt_rows.append({
                "id": r.id, "sha256": r.sha256, "adapter": r.adapter, "cursor": r.cursor,
                "received_at": r.received_at.isoformat(), "message_type": r.message_type, "outcome": r.outcome,
                "file": name,
                "events": [{"filing_id": e.filing_id, "message_type": e.message_type, "status_code": e.status_code,
                            "status_time": e.status_time, "info": e.info, "outcome": e.outcome,
                            "at": e.at.isoformat()} for e in events]})
            n_receipts += 1
        writer.add_json(f"{base}/record.json", {
            "order": {"id": order.id, "tenant_id": order.tenant_id, "order_no": order.order_no,
                      "regime": order.regime, "direction": order.direction, "platform_code": order.platform_code,
                      "cop_no": order.cop_no, "status": order.status, "status_reason": order.status_reason,
                      "received_at": order.received_at.isoformat(), "updated_at": order.updated_at.isoformat(),
                      "normalized": _json_or_text(order.normalized), "purged": is_tombstone(order.body)},
            "filings": filing_rows, "receipts": receipt_rows})

    chain_info, records = _chain_slice(session, subjects, writer)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        manifest = writer.write(tmp, {"gateway": __version__, "scope": scope, "tenant_id": tenant_id,
                                      "orders": [o.id for o in orders], "chain": chain_info}, key)
    except CheckpointInvalid as exc:
        tmp.unlink(missing_ok=True)
        raise AuditError(f"cannot sign the bundle with the gateway key: {exc}") from None
    tmp.replace(out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    uow.audit.record(tenant_id, "evidence", scope.get("order") or tenant_id, "evidence.exported",
                     {"scope": scope, "orders": len(orders), "bundle_sha256": digest, "bundle": out.name,
                      "actor": actor}, at=now)
    uow.commit()
    return ExportResult(out, digest, len(orders), n_filings, n_receipts, records, manifest)


def _json_or_text(text: str):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def receipts_for(session, filing_ids: list[str]) -> list[m.Receipt]:
    """Every raw receipt matched to one of these filings (directly or through a receipt event)."""
    if not filing_ids:
        return []
    via_events = select(m.ReceiptEvent.receipt_id).where(m.ReceiptEvent.filing_id.in_(filing_ids))
    stmt = select(m.Receipt).where(or_(m.Receipt.filing_id.in_(filing_ids), m.Receipt.id.in_(via_events)))
    return list(session.scalars(stmt.order_by(m.Receipt.id)))


def _certificate_of(signed: bytes) -> x509.Certificate | None:
    """The certificate a signed document carries (not verified here: the verifier does that)."""
    if is_tombstone(signed):
        return None
    try:
        root = etree.fromstring(signed, _PARSER)
        el = next(root.iter(_X509), None)
        return x509.load_der_x509_certificate(base64.b64decode("".join((el.text or "").split()))) if el is not None else None
    except (etree.XMLSyntaxError, ValueError):
        return None


def _chain_slice(session, subjects: set[tuple[str, str]], writer: BundleWriter) -> tuple[dict, int]:
    by_type: dict[str, list[str]] = {}
    for t, i in subjects:
        by_type.setdefault(t, []).append(i)
    first = last = None
    for t, ids in by_type.items():
        for k in range(0, len(ids), _IN_CHUNK):
            lo, hi = session.execute(
                select(func.min(m.AuditEvent.id), func.max(m.AuditEvent.id))
                .where(m.AuditEvent.subject_type == t, m.AuditEvent.subject_id.in_(ids[k:k + _IN_CHUNK]))).one()
            if lo is not None:
                first = lo if first is None else min(first, lo)
                last = hi if last is None else max(last, hi)
    if first is None:
        raise AuditError("no audit records about these orders: nothing to prove them with")
    # extend to the next signed checkpoint, so the slice ends at a signed head
    anchor = session.scalar(select(m.AuditCheckpoint).where(m.AuditCheckpoint.last_event_id >= last)
                            .order_by(m.AuditCheckpoint.last_event_id, m.AuditCheckpoint.id).limit(1))
    if anchor is not None:
        last = anchor.last_event_id
    lines, n, starts_at_genesis = [], 0, False
    for rec in audit_chain.iter_chain(session, first, last):
        if n == 0:
            starts_at_genesis = rec.prev_hash is None
        n += 1
        shown = rec if (rec.subject_type, rec.subject_id) in subjects else rec.redact()
        lines.append(json.dumps(shown.as_dict(), ensure_ascii=False, sort_keys=True))
    writer.add(CHAIN_FILE, "\n".join(lines) + "\n")
    checkpoints = session.scalars(select(m.AuditCheckpoint).where(m.AuditCheckpoint.last_event_id >= first,
                                                                  m.AuditCheckpoint.last_event_id <= last)
                                  .order_by(m.AuditCheckpoint.id))
    writer.add_json(CHECKPOINTS_FILE, [checkpoint_of(c).as_dict() for c in checkpoints])
    head = audit_chain.head(session)
    info = {"path": CHAIN_FILE, "first_id": first, "last_id": last, "records": n,
            "starts_at_genesis": starts_at_genesis, "anchored_by_checkpoint": anchor.id if anchor else None,
            "head_at_export": {"hash": head.hash if head else None, "records": head.records if head else None}}
    return info, n
