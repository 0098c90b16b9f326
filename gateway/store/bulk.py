"""Inserting many rows and learning their ids, in order, with a fixed number of statements.

PostgreSQL: one ``INSERT ... SELECT FROM unnest(<one array per column>) RETURNING id``. Its text is the
same whatever the number of rows (SQLAlchemy's "insertmanyvalues" wrote one ``VALUES`` list of every
row's placeholders, tens of kilobytes that psycopg parsed afresh at every call: ~1.4 ms of client CPU
for ~170 audit records), and the rows come out of ``unnest`` in array order, each taking the next value
of the id sequence as it is inserted: the returned ids, sorted, are the rows' ids in order.

SQLite has no INSERT form that ties the new rowids to the order of the rows, so SQLAlchemy would run
one INSERT per row there; instead, as every SQLite write transaction holds the database's write lock
from its BEGIN IMMEDIATE (gateway/store/db.py), nobody else inserts meanwhile: the highest id before,
one executemany INSERT (each row takes the next rowid, in order), and the ids above that highest one,
in order — three statements whatever the number of rows. A caller that has read the highest id
already, under the same lock (the audit chain reads it with its head), passes it as ``last_id``: the
ids are then drawn here, the highest plus 1, 2, ... as SQLite would give them, and stored with the rows
in one statement.
"""
from __future__ import annotations

import functools

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def insert_returning_ids(session: Session, table: Table, rows: list[dict], last_id: int | None = None) -> list[int]:
    """Insert ``rows`` (column -> value dicts with the same keys) into ``table`` (an integer ``id``
    primary key the database assigns); their ids in the order of ``rows``. ``last_id``: on SQLite, the
    highest id of ``table``, read in this write transaction."""
    if not rows:
        return []
    if session.get_bind().dialect.name != "sqlite":
        columns = tuple(rows[0])
        ids = sorted(session.connection().execute(_from_arrays(table, columns),
                                                  {c: [row[c] for row in rows] for c in columns}).scalars())
        if len(ids) != len(rows):
            raise RuntimeError(f"{table.name}: {len(rows)} rows inserted, {len(ids)} ids returned")
        return ids
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
def _from_arrays(table: Table, columns: tuple[str, ...]):
    """PostgreSQL: ``INSERT INTO table (columns) SELECT * FROM unnest(:c1, :c2, ...) RETURNING id``, each
    parameter an array of one column's values (bound with the column's own type, element by element)."""
    arrays = [bindparam(c, type_=ARRAY(table.c[c].type)) for c in columns]
    rows = func.unnest(*arrays).table_valued(*columns).render_derived(name="r")
    return insert(table).from_select(list(columns), select(*[rows.c[c] for c in columns])).returning(table.c.id)
