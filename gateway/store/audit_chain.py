"""Appending audit records to the hash chain, inside the transaction that records them.

``uow.audit.record(...)`` stages the record on the session; when that transaction commits
(``uow.commit()`` or ``session.commit()``), ``_append_staged`` runs first: it locks the chain head
(PostgreSQL: ``SELECT ... FOR UPDATE`` on the one-row ``audit_chain_head``, after flushing the
transaction's other changes so the head is always the last lock taken; SQLite: every write
transaction already holds the database's write lock from BEGIN IMMEDIATE), links every staged
record to the head in the order they were recorded (prev_hash, hash, see gateway.audit.chain),
inserts them and moves the head. The head is held only for the last moments of the transaction,
never while a dispatcher waits on the network, and two transactions never link to the same record.
Ids are drawn while the head is held, so id order is chain order.

A rolled-back transaction drops its staged records. Staged records are not visible to queries
until the commit (nothing in the code reads audit records back in the transaction that writes them).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, event, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from gateway.audit.chain import ChainRecord, record_hash
from gateway.store.bulk import insert_returning_ids
from gateway.store.models import AuditChainHead, AuditCheckpoint, AuditEvent, utcnow

STAGED = "gateway.audit.staged"
HEAD_ID = 1


@dataclass(slots=True)
class Staged:
    """An audit record waiting for its transaction's commit: the columns of ``AuditEvent`` as a plain
    record (a transaction may stage thousands: an ORM object each cost more than hashing them)."""

    tenant_id: str | None
    subject_type: str
    subject_id: str
    action: str
    detail: str
    at: datetime | None = None
    prev_hash: str | None = None
    hash: str | None = None
    id: int | None = None


def stage(session: Session, audit_event: Staged) -> None:
    """Append ``audit_event`` to the chain when this session's transaction commits (``id``,
    ``prev_hash`` and ``hash`` are set then)."""
    session.info.setdefault(STAGED, []).append(audit_event)


def lock_head(session: Session) -> AuditChainHead:
    """The chain head, locked for the rest of the transaction (PostgreSQL); created if missing."""
    stmt = select(AuditChainHead).where(AuditChainHead.id == HEAD_ID).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    head = session.scalar(stmt)
    if head is None:
        # Only after someone deleted the row: rebuild it from the records (the verifier compares
        # it with the checkpoints, which a rebuilt head cannot fake).
        last = session.scalar(select(AuditEvent).where(AuditEvent.hash.is_not(None))
                              .order_by(AuditEvent.id.desc()).limit(1))
        count = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.hash.is_not(None)))
        head = AuditChainHead(id=HEAD_ID, hash=last.hash if last else None, records=count or 0, updated_at=utcnow())
        session.add(head)
    return head


_HEAD = cast(Table, AuditChainHead.__table__)
_EVENTS = cast(Table, AuditEvent.__table__)
# Built once. The head's two columns (locked: PostgreSQL); on SQLite with the largest record id (the next ids follow it:
# ``bulk.insert_returning_ids``) in the same statement.
_READ_HEAD_LOCKED = select(_HEAD.c.hash, _HEAD.c.records).where(_HEAD.c.id == HEAD_ID).with_for_update()
_READ_HEAD_SQLITE = select(_HEAD.c.hash, _HEAD.c.records, select(func.max(_EVENTS.c.id)).scalar_subquery()).where(
    _HEAD.c.id == HEAD_ID)
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == HEAD_ID)


def _head_values(session: Session, sqlite: bool) -> tuple[AuditChainHead | None, str | None, int, int | None]:
    """(ORM head or None, hash, records, on SQLite the largest record id) of the locked head. The common case
    is one Core SELECT (``FOR UPDATE`` on PostgreSQL) and ``_move_head`` moves the head with one Core UPDATE:
    no ORM object, no flush. The ORM row (``lock_head``) when the session holds one already (a checkpoint)
    or the row is missing and has to be rebuilt. The statements go to the session's connection directly
    (``append`` runs after the session's flush: there is nothing for the ORM to do first), half the cost of
    ``Session.execute``."""
    if session.identity_map.get(identity_key(AuditChainHead, HEAD_ID)) is None:
        found = session.connection().execute(_READ_HEAD_SQLITE if sqlite else _READ_HEAD_LOCKED).first()
        if found is not None:
            return None, found[0], found[1] or 0, (found[2] or 0) if sqlite else None
    row = lock_head(session)
    last = (session.scalar(select(func.max(_EVENTS.c.id))) or 0) if sqlite else None
    return row, row.hash, row.records or 0, last


def _move_head(session: Session, row: AuditChainHead | None, hash_: str | None, records: int) -> None:
    if row is not None:
        row.hash, row.records, row.updated_at = hash_, records, utcnow()
        return
    session.connection().execute(_MOVE_HEAD, {"hash": hash_, "records": records, "updated_at": utcnow()})


def append(session: Session, events: list[Staged]) -> None:
    """Link ``events`` to the head in order and insert them with one bulk INSERT whose ids follow
    the list, so id order is chain order."""
    row, prev, n, last_id = _head_values(session, session.get_bind().dialect.name == "sqlite")
    rows = []
    for e in events:
        e.at = e.at or utcnow()
        e.prev_hash = prev
        e.hash = record_hash(prev, e.tenant_id, e.subject_type, e.subject_id, e.action, e.detail, e.at)
        rows.append({"tenant_id": e.tenant_id, "subject_type": e.subject_type, "subject_id": e.subject_id,
                     "action": e.action, "detail": e.detail, "at": e.at, "prev_hash": e.prev_hash, "hash": e.hash})
        prev, n = e.hash, n + 1
    if rows:
        for e, event_id in zip(events, insert_returning_ids(session, _EVENTS, rows, last_id), strict=True):
            e.id = event_id
    _move_head(session, row, prev, n)


@event.listens_for(Session, "before_commit")
def _append_staged(session: Session) -> None:
    staged = session.info.get(STAGED)
    if not staged or session.in_nested_transaction():
        return  # a savepoint commits: the outer transaction appends at its own commit
    session.info[STAGED] = []
    # Write everything else first, so the chain head is the LAST lock this transaction takes: a
    # transaction holding the head never waits for a row another one holds (no deadlock), and the
    # head is held only for the audit inserts and the commit.
    session.flush()
    append(session, staged)


@event.listens_for(Session, "after_transaction_end")
def _forget_staged(session: Session, transaction) -> None:
    if transaction.parent is None:       # the outermost transaction ended (commit or rollback)
        session.info.pop(STAGED, None)


# ---- reading the chain back -----------------------------------------------------------------------

def as_chain_record(e: AuditEvent) -> ChainRecord:
    return ChainRecord(id=e.id, prev_hash=e.prev_hash, hash=e.hash, tenant_id=e.tenant_id,
                       subject_type=e.subject_type, subject_id=e.subject_id, action=e.action,
                       detail=e.detail, at=e.at)


def iter_chain(session: Session, first_id: int | None = None, last_id: int | None = None,
               batch: int = 2000) -> Iterator[ChainRecord]:
    """Every audit record in id order (optionally an id range) as plain ChainRecords, read in
    batches by keyset paging and let go of after each batch (a whole chain does not sit in memory)."""
    after = (first_id - 1) if first_id is not None else None
    while True:
        stmt = select(AuditEvent).order_by(AuditEvent.id).limit(batch)
        if after is not None:
            stmt = stmt.where(AuditEvent.id > after)
        if last_id is not None:
            stmt = stmt.where(AuditEvent.id <= last_id)
        rows = list(session.scalars(stmt))
        records = [as_chain_record(e) for e in rows]
        for e in rows:
            session.expunge(e)
        yield from records
        if len(rows) < batch:
            return
        after = rows[-1].id


def head(session: Session) -> AuditChainHead | None:
    return session.get(AuditChainHead, HEAD_ID)


def checkpoints(session: Session) -> list[AuditCheckpoint]:
    return list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)))
