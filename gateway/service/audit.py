"""Audit services on the live database: check the chain and the evidence it covers, sign
checkpoints of its head, and manage auditors (read-only API users with grants per tenant).

    report = check_database(gw.uow_factory)             # chain, head, checkpoints, stored bytes
    cp = make_checkpoint(gw.uow_factory, gw.key, gw.clock, instance_dir)
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from gateway.audit.chain import ChainVerifier
from gateway.audit.checkpoint import Checkpoint, CheckpointInvalid
from gateway.audit.checkpoint import make_checkpoint as sign_checkpoint
from gateway.audit.report import Report
from gateway.audit.tombstone import is_tombstone, read_tombstone
from gateway.store import audit_chain
from gateway.store import models as m

AUDITOR_KEY_SCHEME = "gwa_"


class AuditError(Exception):
    """An audit operation cannot be done; the message says why."""


# ---- checking the database ---------------------------------------------------------------------

@dataclass
class _Recorded:
    sha256: str | None
    record_id: int


def check_database(uow_factory, *, trusted: list | None = None, evidence: bool = True) -> Report:
    """Verify the whole audit chain (every hash, every link, in id order), the chain head, every
    signed checkpoint, and, with ``evidence``, that every stored filing, receipt and order body
    still has the sha256 the chain recorded for it. Read-only."""
    report = Report()
    with uow_factory() as uow:
        session = uow.session
        checkpoints = audit_chain.checkpoints(session)
        wanted = {cp.last_event_id for cp in checkpoints if cp.last_event_id is not None}
        at_checkpoint: dict[int, tuple[str | None, int]] = {}       # event id -> (hash, position)
        signed: dict[str, _Recorded] = {}       # filing id -> filing.signed
        stored: dict[str, _Recorded] = {}       # receipt id -> receipt.stored
        received: dict[str, tuple[dict, int]] = {}  # order id -> (order.received detail, record id)
        purged: set[tuple[str, str]] = set()
        first_receipt_chained: int | None = None
        verifier = ChainVerifier(expect_genesis=True)
        for rec in audit_chain.iter_chain(session):
            verifier.feed(rec)
            if rec.id in wanted:
                at_checkpoint[rec.id] = (rec.hash, verifier.report.count)
            if rec.action is None or rec.subject_type is None or rec.subject_id is None:
                continue   # a redacted record: its body is only a digest, nothing to check evidence against
            if rec.action == "filing.signed":
                signed[rec.subject_id] = _Recorded(_detail(rec.detail).get("sha256"), rec.id)
            elif rec.action == "receipt.stored":
                stored[rec.subject_id] = _Recorded(_detail(rec.detail).get("sha256"), rec.id)
                if first_receipt_chained is None or int(rec.subject_id) < first_receipt_chained:
                    first_receipt_chained = int(rec.subject_id)
            elif rec.action == "order.received":
                received[rec.subject_id] = (_detail(rec.detail), rec.id)
            elif rec.action.endswith(".purged"):
                purged.add((rec.subject_type, rec.subject_id))
        chain = verifier.finish()
        for p in chain.problems:
            report.add("fail", "chain", p.message)
        if chain.ok:
            report.add("ok", "chain", chain.summary())

        head = audit_chain.head(session)
        if head is None:
            report.add("fail", "head", "the chain head row is missing (audit_chain_head was deleted)")
        elif (head.hash, head.records) != (chain.head_hash, chain.count):
            report.add("fail", "head", f"the chain head says {head.records} records ending in "
                                       f"{(head.hash or 'nothing')[:16]}…, but the log holds {chain.count} ending in "
                                       f"{(chain.head_hash or 'nothing')[:16]}…: records were deleted from the end "
                                       "of the log, or written outside the chain")
        else:
            report.add("ok", "head", f"the chain head matches the log ({head.records} records)")
        _check_checkpoints(checkpoints, at_checkpoint, report, trusted)
        if evidence:
            _check_filings(session, signed, purged, report)
            _check_receipts(session, stored, purged, first_receipt_chained, report)
            _check_orders(session, received, purged, report)
    return report


def _detail(text: str | None) -> dict:
    try:
        value = json.loads(text or "")
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def _check_checkpoints(checkpoints, at_checkpoint, report: Report, trusted) -> None:
    if not checkpoints:
        report.add("warn", "checkpoints", "no signed checkpoint yet (run `gateway audit checkpoint` regularly)")
        return
    for row in checkpoints:
        cp = checkpoint_of(row)
        name = f"checkpoint {row.id}"
        try:
            cp.verify(trusted)
        except CheckpointInvalid as exc:
            report.add("fail", name, str(exc))
            continue
        if row.last_event_id is None:
            report.add("ok", name, "signed an empty chain")
            continue
        found = at_checkpoint.get(row.last_event_id)
        if found is None:
            report.add("fail", name, f"signed the head at record {row.last_event_id}, which is no longer in the log: "
                                     "records were deleted")
        elif found != (row.head_hash, row.records):
            report.add("fail", name, f"signed record {row.last_event_id} as number {row.records} with hash "
                                     f"{(row.head_hash or '')[:16]}…; the log now has it as number {found[1]} with "
                                     f"{(found[0] or '')[:16]}…: the chain was changed before that point")
        else:
            report.add("ok", name, f"signed {row.at.isoformat()} by serial {row.key_name}: "
                                   f"{row.records} records ending at record {row.last_event_id} — still so")


def _check_chained(subject: str, data: bytes, column_sha, rec: _Recorded, purged: bool, report: Report, *, what: str,
                   when: str) -> int:
    """Stored bytes against the sha256 their chained record holds (a purged row: its tombstone), then
    the row's own sha256 column against it. Returns 1 when it reported a failure, else 0."""
    if is_tombstone(data):
        return _check_tombstone(subject, data, rec, purged, report)
    actual = hashlib.sha256(data).hexdigest()
    if actual != rec.sha256:
        report.add("fail", subject, f"{what} changed: sha256 {actual[:16]}… differs from {str(rec.sha256)[:16]}… "
                                    f"recorded when {when} (audit record {rec.record_id})")
        return 1
    if column_sha != rec.sha256:
        report.add("fail", subject, f"the sha256 column was changed ({str(column_sha)[:16]}…, the chain recorded "
                                    f"{str(rec.sha256)[:16]}…)")
        return 1
    return 0


def _check_filings(session, signed: dict, purged: set, report: Report) -> None:
    stmt = select(m.Filing.id, m.Filing.sha256, m.Filing.signed_bytes).order_by(m.Filing.id)
    bad = n = 0
    for fid, column_sha, data in session.execute(stmt.execution_options(yield_per=500)):
        n += 1
        data = bytes(data)
        rec = signed.get(fid)
        subject = f"filing {fid}"
        if rec is None:
            bad += 1
            report.add("fail", subject, "has no filing.signed record in the chain: it was not written by the gateway")
            continue
        bad += _check_chained(subject, data, column_sha, rec, ("filing", fid) in purged, report,
                              what="signed bytes", when="signed")
    if not bad:
        report.add("ok", "filings", f"{n} filings hold exactly the bytes recorded when they were signed")


def _check_receipts(session, stored: dict, purged: set, first_chained: int | None, report: Report) -> None:
    stmt = select(m.Receipt.id, m.Receipt.sha256, m.Receipt.raw).order_by(m.Receipt.id)
    bad = n = unchained = 0
    for rid, column_sha, data in session.execute(stmt.execution_options(yield_per=500)):
        n += 1
        data = bytes(data)
        rec = stored.get(str(rid))
        subject = f"receipt {rid}"
        if rec is None:
            if first_chained is not None and rid > first_chained:
                bad += 1
                report.add("fail", subject, "has no receipt.stored record although receipts stored before it "
                                            "do: it was written around the gateway, or its record was deleted")
            else:
                unchained += 1
                if hashlib.sha256(data).hexdigest() != column_sha and not is_tombstone(data):
                    bad += 1
                    report.add("fail", subject, "raw bytes no longer match the stored sha256")
            continue
        bad += _check_chained(subject, data, column_sha, rec, ("receipt", str(rid)) in purged, report,
                              what="raw bytes", when="received")
    if unchained:
        report.add("warn", "receipts", f"{unchained} receipt(s) stored before receipts were chained: checked "
                                       "against their own sha256 column only")
    if not bad:
        report.add("ok", "receipts", f"{n} raw receipts are exactly as received")


def _check_orders(session, received: dict, purged: set, report: Report) -> None:
    stmt = select(m.Order.id, m.Order.body).order_by(m.Order.id)
    bad = n = 0
    for oid, body in session.execute(stmt.execution_options(yield_per=500)):
        n += 1
        subject = f"order {oid}"
        found = received.get(oid)
        if found is None:
            bad += 1
            report.add("fail", subject, "has no order.received record in the chain: it was not written by the gateway")
            continue
        detail, record_id = found
        expected = detail.get("body_text_sha256")
        if is_tombstone(body) and expected is None:     # received before exact bodies were chained
            if ("order", oid) not in purged:
                bad += 1
                report.add("fail", subject, "body replaced by a tombstone, but no purge is recorded in the chain")
            continue
        if is_tombstone(body):
            bad += _check_tombstone(subject, body.encode("utf-8"), _Recorded(expected, record_id),
                                    ("order", oid) in purged, report)
            continue
        if expected is None:
            continue   # received before exact bodies were chained
        actual = hashlib.sha256(body.encode("utf-8")).hexdigest()
        if actual != expected:
            bad += 1
            report.add("fail", subject, f"body changed: sha256 {actual[:16]}… differs from {expected[:16]}… recorded "
                                        f"when it was received (audit record {record_id})")
    if not bad:
        report.add("ok", "orders", f"{n} order bodies are exactly as received")


def _check_tombstone(subject: str, data: bytes, rec: _Recorded, purge_recorded: bool, report: Report) -> int:
    try:
        t = read_tombstone(data)
    except ValueError as exc:
        report.add("fail", subject, str(exc))
        return 1
    if t.sha256 != rec.sha256:
        report.add("fail", subject, f"tombstone names sha256 {t.sha256[:16]}…, the chain recorded {str(rec.sha256)[:16]}…")
        return 1
    if not purge_recorded:
        report.add("fail", subject, "bytes replaced by a tombstone, but no purge is recorded in the chain")
        return 1
    return 0


# ---- checkpoints -------------------------------------------------------------------------------

def checkpoint_of(row: m.AuditCheckpoint) -> Checkpoint:
    from gateway.audit.chain import format_at

    return Checkpoint(head_hash=row.head_hash, count=row.records, last_event_id=row.last_event_id,
                      at=format_at(row.at), signature=row.signature, certificate=row.certificate, id=row.id)


def make_checkpoint(uow_factory, key, clock, out_dir: Path | None = None, *, actor: str = "cli") -> Checkpoint:
    """Sign the current chain head (hash, number of records, last record id, time), store it in
    audit_checkpoints (and as a JSON file in ``out_dir``), and record that it was made."""
    with uow_factory() as uow:
        session = uow.session
        head = audit_chain.lock_head(session)
        last = session.scalar(select(m.AuditEvent).where(m.AuditEvent.hash.is_not(None))
                              .order_by(m.AuditEvent.id.desc()).limit(1))
        if (last.hash if last else None) != head.hash:
            raise AuditError("the chain head does not match the newest audit record; run `gateway audit check` "
                             "before signing a checkpoint")
        now = clock.now()
        try:
            cp = sign_checkpoint(head.hash, head.records, last.id if last else None, now, key)
        except CheckpointInvalid as exc:
            raise AuditError(f"cannot sign a checkpoint with the gateway key: {exc}") from None
        row = m.AuditCheckpoint(at=now, head_hash=cp.head_hash, records=cp.count, last_event_id=cp.last_event_id,
                                signature=cp.signature, certificate=cp.certificate, key_name=key.key_name)
        session.add(row)
        session.flush()
        cp = checkpoint_of(row)
        uow.audit.record(None, "audit", "chain", "audit.checkpoint",
                         {"checkpoint": row.id, "head_hash": cp.head_hash, "records": cp.count,
                          "last_event_id": cp.last_event_id, "key_name": key.key_name, "actor": actor}, at=now)
        uow.commit()
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"checkpoint-{cp.id:06d}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(cp.as_dict(), indent=2) + "\n", "utf-8")
        tmp.replace(path)
    return cp


# ---- auditors ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditorIdentity:
    id: str
    name: str
    tenant_ids: frozenset[str]


def _hash_key(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def create_auditor(uow, name: str, tenant_ids: list[str], *, now=None, actor: str = "cli") -> tuple[m.Auditor, str]:
    """Add an auditor with read access to ``tenant_ids``; returns (row, plain key shown once). Does not commit."""
    if not name or len(name) > 200:
        raise AuditError(f"name must be 1..200 characters, got {len(name or '')}")
    plain = AUDITOR_KEY_SCHEME + secrets.token_urlsafe(32)
    auditor = m.Auditor(id=str(uuid.uuid4()).upper(), name=name, prefix=plain[:8], key_hash=_hash_key(plain),
                        created_at=now or m.utcnow(), revoked_at=None)
    uow.session.add(auditor)
    uow.audit.record(None, "auditor", auditor.id, "auditor.created", {"name": name, "prefix": plain[:8],
                                                                       "actor": actor})
    for tenant_id in tenant_ids:
        grant(uow, auditor, tenant_id, now=now, actor=actor)
    return auditor, plain


def grant(uow, auditor: m.Auditor | str, tenant_id: str, *, now=None, actor: str = "cli") -> None:
    auditor_id = auditor if isinstance(auditor, str) else auditor.id
    if uow.tenants.get(tenant_id) is None:
        raise AuditError(f"tenant: no tenant {tenant_id}")
    if isinstance(auditor, str) and uow.session.get(m.Auditor, auditor_id) is None:
        raise AuditError(f"auditor: no auditor {auditor_id}")
    if uow.session.get(m.AuditorGrant, (auditor_id, tenant_id)) is not None:
        return
    uow.session.add(m.AuditorGrant(auditor_id=auditor_id, tenant_id=tenant_id, granted_at=now or m.utcnow()))
    uow.audit.record(tenant_id, "auditor", auditor_id, "auditor.granted", {"tenant_id": tenant_id, "actor": actor})


def revoke_auditor(uow, auditor_id: str, *, now=None, actor: str = "cli") -> None:
    auditor = uow.session.get(m.Auditor, auditor_id)
    if auditor is None:
        raise AuditError(f"auditor: no auditor {auditor_id}")
    if auditor.revoked_at is None:
        auditor.revoked_at = now or m.utcnow()
        uow.audit.record(None, "auditor", auditor_id, "auditor.revoked", {"actor": actor})


def find_auditor(uow, plain_key: str) -> AuditorIdentity | None:
    """The auditor owning ``plain_key`` with the tenants granted; None for unknown or revoked keys.
    Same scheme as tenant API keys: indexed prefix, constant-time comparison of the sha256."""
    if not isinstance(plain_key, str) or not plain_key.startswith(AUDITOR_KEY_SCHEME) or len(plain_key) < 8:
        return None
    wanted = _hash_key(plain_key).encode("ascii")
    match = None
    for candidate in uow.session.scalars(select(m.Auditor).where(m.Auditor.prefix == plain_key[:8],
                                                                 m.Auditor.revoked_at.is_(None))):
        if hmac.compare_digest(candidate.key_hash.encode("ascii"), wanted):
            match = candidate
    if match is None:
        return None
    tenants = uow.session.scalars(select(m.AuditorGrant.tenant_id).where(m.AuditorGrant.auditor_id == match.id))
    return AuditorIdentity(match.id, match.name, frozenset(tenants))
