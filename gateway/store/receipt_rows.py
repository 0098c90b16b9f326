"""A batch of receipts written set-wise (``ReceiptIngestor.ingest_many``): plain rows and Core statements
instead of one ORM object per receipt and per receipt entry.

- ``insert_raw_many``: the raw receipts of a batch in one INSERT whose ids follow the list
  (``bulk.insert_returning_ids``), each as a ``StoredReceipt`` (a plain record the service fills in as
  it applies the receipt);
- ``write_outcomes``: what the batch made of them (outcome, tenant, filing, type, code, time, info),
  one executemany UPDATE;
- ``insert_events``: the batch's receipt entries (``receipt_events``), one executemany INSERT, in
  the order they were applied (id order is arrival order: "the newest" is the highest id).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session

from gateway.store.bulk import insert_returning_ids
from gateway.store.models import Receipt, ReceiptEvent

RECEIPTS = cast(Table, Receipt.__table__)
EVENTS = cast(Table, ReceiptEvent.__table__)
OUTCOME_COLUMNS = ("tenant_id", "filing_id", "message_type", "status_code", "status_time", "info", "outcome")


@dataclass(slots=True)
class StoredReceipt:
    """A raw receipt just stored, and what applying it found (written back by ``write_outcomes``)."""

    id: int
    adapter: str
    cursor: str
    sha256: str
    tenant_id: str | None = None
    filing_id: str | None = None
    message_type: str | None = None
    status_code: str | None = None
    status_time: str | None = None
    info: str | None = None
    outcome: str = "unmatched"


def insert_raw_many(session: Session, adapter: str,
                    rows: list[tuple[bytes, str, str, datetime]]) -> list[StoredReceipt]:
    """Insert (raw bytes, sha256, cursor, received_at) rows, outcome 'unmatched', in one statement;
    the stored receipts in the same order. A sha256 stored already raises IntegrityError."""
    if not rows:
        return []
    values = [{"adapter": adapter, "cursor": cursor, "raw": raw, "sha256": digest, "outcome": "unmatched",
               "received_at": received_at} for raw, digest, cursor, received_at in rows]
    ids = insert_returning_ids(session, RECEIPTS, values)
    return [StoredReceipt(id=i, adapter=adapter, cursor=cursor, sha256=digest)
            for i, (_, digest, cursor, _) in zip(ids, rows, strict=True)]


def write_outcomes(session: Session, receipts: list[StoredReceipt]) -> None:
    """Record what each stored receipt came to, in one executemany UPDATE."""
    if not receipts:
        return
    stmt = (update(RECEIPTS).where(RECEIPTS.c.id == bindparam("_id"))
            .values({c: bindparam(c) for c in OUTCOME_COLUMNS}))
    session.execute(stmt, [{"_id": r.id, **{c: getattr(r, c) for c in OUTCOME_COLUMNS}} for r in receipts])


def insert_events(session: Session, rows: list[dict]) -> None:
    """Insert receipt entries (column -> value dicts) in one statement, in order; empties ``rows``."""
    if rows:
        session.execute(insert(EVENTS), list(rows))
        rows.clear()
