"""Idempotency-Key: a client retries a POST safely (docs/api.md "Idempotency-Key").

* First use of a key: a ``running`` row (unique per tenant and key) is committed before the work
  runs; when the answer is known it is stored with the row (status, the headers that matter, body).
* The same key and the same request (sha256 of method, path and body) again: the stored answer.
* The same key with another request: ``KeyReused`` (HTTP 422, rule ``idempotency-key-reused``).
* The same key while the first request still runs: wait up to ``wait`` seconds for its answer,
  then ``KeyInUse`` (HTTP 409). Two first uses at once: the unique constraint lets one insert win.
* A ``running`` row older than ``STALE_AFTER`` belongs to a request whose process died (gunicorn kills
  a worker after 60 s on one request): the same request again takes the key over (one conditional
  UPDATE decides between two retries) and runs; the work it repeats is idempotent on its own (an
  order already stored is answered as the identical submission).
* An answer of 5xx is not kept (the row is dropped: a retry runs again). Rows live ``ttl``
  (GATEWAY_IDEMPOTENCY_HOURS); an expired key is as new, and a tenant's expired rows are removed
  when it starts a new key.
Independent of Flask: the API wraps its POST views with ``api.idempotent``.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.store.models import IdempotencyRecord

KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,200}")      # printable ASCII, no blanks, 1..200 characters
KEPT_HEADERS = ("Content-Type", "Location", "Content-Disposition")
_TABLE = cast(Table, IdempotencyRecord.__table__)
STALE_AFTER = timedelta(seconds=300)   # a running key older than this: its request died (server timeout 60 s)


class KeyReused(Exception):
    """The key was first used with another request."""


class KeyInUse(Exception):
    """The first request with this key has not answered yet."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def fingerprint(method: str, path: str, body: bytes) -> str:
    h = hashlib.sha256(f"{method.upper()} {path}\n".encode())
    h.update(body)
    return h.hexdigest()


def valid_key(key: str) -> bool:
    return bool(KEY_PATTERN.fullmatch(key))


def _find(uow, tenant_id: str, key: str) -> IdempotencyRecord | None:
    return uow.session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.tenant_id == tenant_id,
                                                              IdempotencyRecord.key == key))


def begin(uow_factory, now: datetime, tenant_id: str, key: str, request_sha256: str, ttl: timedelta,
          wait: float = 2.0, sleep: Callable[[float], None] = time.sleep) -> Answer | None:
    """None: this request owns the key and runs (call ``finish`` or ``abandon``). An Answer: the
    first one, to replay. Raises KeyReused or KeyInUse.

    A first use (the common case) is one transaction of two statements: the tenant's expired rows are
    deleted (this key's own, if expired, among them) and the ``running`` row inserted. Only when the
    unique constraint refuses it (the key is in use) is the row read."""
    deadline = time.monotonic() + wait
    while True:
        with uow_factory() as uow:
            try:
                conn = uow.session.connection()       # Core statements: the ORM adds nothing to them
                conn.execute(delete(_TABLE).where(_TABLE.c.tenant_id == tenant_id, _TABLE.c.expires_at <= now))
                conn.execute(insert(_TABLE).values(
                    tenant_id=tenant_id, key=key, request_sha256=request_sha256, state="running", created_at=now,
                    expires_at=now + ttl))
                uow.commit()
                return None
            except IntegrityError:      # the key is there (and live): read what it holds
                uow.rollback()
            row = _find(uow, tenant_id, key)
            if row is None:             # released meanwhile (a 5xx, an abandoned request): try again
                continue
            if row.request_sha256 != request_sha256:
                raise KeyReused(key)
            if row.state == "done":
                return Answer(row.status or 200, [tuple(h) for h in json.loads(row.headers or "[]")],
                              bytes(row.body or b""))
            if row.created_at <= now - STALE_AFTER:      # left running by a request that died: take it over
                taken = uow.session.execute(
                    update(IdempotencyRecord).where(IdempotencyRecord.id == row.id,
                                                    IdempotencyRecord.state == "running",
                                                    IdempotencyRecord.created_at == row.created_at)
                    .values(created_at=now).execution_options(synchronize_session=False)).rowcount
                uow.commit()
                if taken:
                    return None
                continue                                 # another retry took it first: wait for its answer
        if time.monotonic() >= deadline:
            raise KeyInUse(key)
        sleep(0.1)


def finish(uow_factory, tenant_id: str, key: str, answer: Answer) -> None:
    """Keep the answer (never a 5xx: the key is released instead, so a retry runs again): one statement."""
    mine = (_TABLE.c.tenant_id == tenant_id, _TABLE.c.key == key)
    with uow_factory() as uow:
        if answer.status >= 500:
            uow.session.connection().execute(delete(_TABLE).where(*mine))
        else:
            uow.session.connection().execute(update(_TABLE).where(*mine).values(
                state="done", status=answer.status, body=answer.body,
                headers=json.dumps([[k, v] for k, v in answer.headers if k in KEPT_HEADERS])))
        uow.commit()


def abandon(uow_factory, tenant_id: str, key: str) -> None:
    with uow_factory() as uow:
        row = _find(uow, tenant_id, key)
        if row is not None and row.state == "running":
            uow.session.delete(row)
            uow.commit()
