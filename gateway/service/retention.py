"""Retention: after the retention period (default 5 years, GATEWAY_RETENTION_YEARS), the raw bytes
of finished orders may go, but never the proof that they existed.

``purge(..., before=DATE, export_dir=DIR)`` takes every order received before DATE (00:00 China
Standard Time) whose status is final, and for each one:

1. exports its evidence bundle to ``DIR/<order id>.zip`` and verifies it (a bundle that does not
   verify stops that order's purge);
2. in one transaction replaces the order body, each filing's signed bytes and each raw receipt
   that belongs to this order only by a tombstone naming the sha256 of what was there
   (gateway.audit.tombstone), and appends ``order.purged`` / ``filing.purged`` / ``receipt.purged``
   records (sha256, size, bundle name and sha256, policy) to the chain.

Old audit records are never touched: they keep their hashes and the chain stays verifiable; the
tombstone's sha256 must equal the sha256 the chain recorded when the bytes were stored.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select

from gateway.audit.bundle import verify_bundle
from gateway.audit.chain import format_at
from gateway.audit.tombstone import Tombstone, is_tombstone
from gateway.domain import status as st
from gateway.store import models as m

from .audit import AuditError
from .evidence import day_start, export_order, receipts_for

DEFAULT_RETENTION_YEARS = 5
FINAL = (st.ORDER_RELEASED, st.ORDER_REJECTED)        # combined statuses after which nothing more comes


class RetentionRefused(AuditError):
    """The purge would break the retention policy."""


@dataclass
class PurgeResult:
    purged: list[str] = field(default_factory=list)                 # order ids
    skipped: list[tuple[str, str]] = field(default_factory=list)    # (order id, why)
    bundles: list[Path] = field(default_factory=list)
    filings: int = 0
    receipts: int = 0


def earliest_allowed(today: date, years: int) -> date:
    """The latest ``--before`` the policy allows: ``today`` minus ``years`` (29 Feb -> 28 Feb)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def purge(uow_factory, key, clock, *, before: date, export_dir: Path, retention_years: int = DEFAULT_RETENTION_YEARS,
          dry_run: bool = False, actor: str = "cli") -> PurgeResult:
    if retention_years < 1:
        raise RetentionRefused(f"retention_years must be at least 1, got {retention_years}")
    today = clock.now().astimezone(day_start(before).tzinfo).date()
    limit = earliest_allowed(today, retention_years)
    if before > limit:
        raise RetentionRefused(f"--before {before} is inside the retention period of {retention_years} years: "
                               f"only data received before {limit} may be purged today")
    export_dir = Path(export_dir)
    result = PurgeResult()
    with uow_factory() as uow:
        candidates = [(o.id, o.status, o.body) for o in uow.session.scalars(
            select(m.Order).where(m.Order.received_at < day_start(before)).order_by(m.Order.received_at, m.Order.id))]
    for order_id, status, body in candidates:
        if is_tombstone(body):
            continue                                  # purged before
        if status not in FINAL:
            result.skipped.append((order_id, f"status {status} is not final"))
            continue
        if dry_run:
            result.purged.append(order_id)
            continue
        bundle = export_dir / f"{order_id}.zip"
        exported = export_order(uow_factory, key, clock, order_id, bundle, actor=f"{actor} (retention)")
        report = verify_bundle(bundle, trusted=[key.certificate])    # the key that just signed it
        if not report.ok:
            result.skipped.append((order_id, "its bundle does not verify: "
                                   + "; ".join(str(f) for f in report.failures[:3])))
            continue
        result.bundles.append(bundle)
        _purge_order(uow_factory, clock, order_id, bundle.name, exported.sha256,
                     f"retention {retention_years} years: received before {before}", actor, result)
        result.purged.append(order_id)
    return result


def _purge_order(uow_factory, clock, order_id: str, bundle_name: str, bundle_sha256: str, reason: str, actor: str,
                 result: PurgeResult) -> None:
    now = clock.now()
    at = format_at(now)
    with uow_factory() as uow:
        order = uow.session.get(m.Order, order_id)
        filings = uow.filings.for_order(order.tenant_id, order.id)
        mine = {f.id for f in filings}
        common = {"bundle": bundle_name, "bundle_sha256": bundle_sha256, "reason": reason, "actor": actor}

        body = order.body.encode("utf-8")
        order.body = Tombstone(hashlib.sha256(body).hexdigest(), len(body), at, reason, bundle_name).to_text()
        uow.audit.record(order.tenant_id, "order", order.id, "order.purged",
                         dict(common, sha256=hashlib.sha256(body).hexdigest(), size=len(body)), at=now)
        for f in filings:
            data = bytes(f.signed_bytes)
            if is_tombstone(data):
                continue
            f.signed_bytes = Tombstone(f.sha256, len(data), at, reason, bundle_name).to_bytes()
            uow.audit.record(order.tenant_id, "filing", f.id, "filing.purged",
                             dict(common, sha256=f.sha256, size=len(data)), at=now)
            result.filings += 1
        for r in receipts_for(uow.session, list(mine)):
            data = bytes(r.raw)
            if is_tombstone(data) or not _only_for(uow.session, r.id, mine):
                continue                              # it also answers filings of an order not purged
            r.raw = Tombstone(r.sha256, len(data), at, reason, bundle_name).to_bytes()
            uow.audit.record(order.tenant_id, "receipt", str(r.id), "receipt.purged",
                             dict(common, sha256=r.sha256, size=len(data)), at=now)
            result.receipts += 1
        uow.commit()


def _only_for(session, receipt_id: int, filing_ids: set[str]) -> bool:
    answered = set(session.scalars(select(m.ReceiptEvent.filing_id).where(m.ReceiptEvent.receipt_id == receipt_id)))
    return answered <= filing_ids
