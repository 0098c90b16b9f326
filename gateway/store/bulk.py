"""Inserting many rows and learning their ids, in order, with a fixed number of statements.

PostgreSQL: one ``INSERT ... RETURNING id`` per page of rows whose returned ids follow the rows
(SQLAlchemy's "insertmanyvalues" with ``sort_by_parameter_order``). SQLite has no INSERT form that
ties the new rowids to the order of the rows, so SQLAlchemy would run one INSERT per row there;
instead, as every SQLite write transaction holds the database's write lock from its BEGIN IMMEDIATE
(gateway/store/db.py), nobody else inserts meanwhile: the highest id before, one executemany INSERT
(each row takes the next rowid, in order), and the ids above that highest one, in order — three
statements whatever the number of rows. A caller that has read the highest id already, under the same
lock (the audit chain reads it with its head), passes it as ``last_id``: the ids are then drawn here,
the highest plus 1, 2, ... as SQLite would give them, and stored with the rows in one statement.
"""
from __future__ import annotations

import functools

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session


def insert_returning_ids(session: Session, table: Table, rows: list[dict], last_id: int | None = None) -> list[int]:
    """Insert ``rows`` (column -> value dicts with the same keys) into ``table`` (an integer ``id``
    primary key the database assigns); their ids in the order of ``rows``. ``last_id``: on SQLite, the
    highest id of ``table``, read in this write transaction."""
    if not rows:
        return []
    if session.get_bind().dialect.name != "sqlite":
        return list(session.connection().execute(_returning(table), rows).scalars().all())
    if last_id is not None:
        ids = list(range(last_id + 1, last_id + 1 + len(rows)))
        session.connection().execute(insert(table), [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
        return ids
    before = session.scalar(select(func.max(table.c.id))) or 0
    session.execute(insert(table), rows)
    ids = list(session.scalars(select(table.c.id).where(table.c.id > before).order_by(table.c.id)))
    if len(ids) != len(rows):    # only if another writer inserted meanwhile, which the write lock forbids
        raise RuntimeError(f"{table.name}: {len(rows)} rows inserted, {len(ids)} new ids found")
    return ids


@functools.cache
def _returning(table: Table):
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)
