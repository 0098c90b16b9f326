"""The rows of new signed filings, built and written in ONE place for every path that stores them:
batch intake (``orders.submit_batch``; a single order is a batch of one), the held-order
release (``holds.release_held``), site filings (``site_filing_submit.submit``), and corrections and
reversals (``corrections.base``: with the appType sent and the filing changed, one filing at a time,
written before the correction record that names it).

A filing's rows: its ``filings`` row; its ``outbox`` row on the channel of its agency (no channel: no row,
the audit record that it was prepared and not transmitted, ``channels.outbox_row``); its
``filing.signed`` audit record. ``FilingRows.add`` builds them order by order (filing ids drawn and audit
records staged in the order intake has always written them); ``write`` stores them with one Core INSERT
per table, after the caller has stored the orders they belong to (foreign keys): a batch of any size
costs two statements, never a round trip per row. The audit records join the hash chain at commit.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import cast

from sqlalchemy import Table, insert

from gateway.store import models as m

from . import channels
from .declare import BuiltFiling


def core_insert(model):
    """A Core INSERT into ``model``'s table, for rows that are plain column values: the ORM's bulk path
    would walk every row through its mapper first, a third of the storing time for nothing it adds here."""
    return insert(cast(Table, model.__table__))


class FilingRows:
    """The rows of the new filings of one transaction's orders, written together by ``write``."""

    def __init__(self, uow, tenant_id: str, adapter, now, built_with: dict) -> None:
        self.uow, self.tenant_id, self.adapter, self.now = uow, tenant_id, adapter, now
        self.built_with = json.dumps(built_with)
        self.filings: list[dict] = []
        self.outbox: list[dict] = []

    def add(self, ids, order_id: str, built: Sequence[BuiltFiling], events: Iterable[tuple[str, dict]] = (),
            *, app_type: str | None = None, corrects_id: str | None = None) -> list[str]:
        """The rows of ``order_id``'s signed filings ``built``, for ``write``; their ids, in the same order.
        Audit records, in this order: ``filing.not_transmitted`` for each filing without a channel, the
        order's own ``events`` (action, detail), ``filing.signed`` for each filing.
        Corrections and reversals: ``corrects_id`` the filing they change, ``app_type`` the appType sent;
        both go into the filings row and the ``filing.signed`` record ("app_type", "corrects"). New filings
        and corrections are not mixed before one ``write`` (one INSERT: the same columns in every row)."""
        uow, tenant_id, now = self.uow, self.tenant_id, self.now
        correction = {} if corrects_id is None else {"app_type": app_type, "corrects_id": corrects_id}
        signed_too = {} if corrects_id is None else {"app_type": app_type, "corrects": corrects_id}
        if self.filings and ("corrects_id" in self.filings[0]) != bool(correction):
            raise ValueError("new filings and corrections are written separately (one INSERT, one set of columns)")
        filing_ids = [ids.new_guid() for _ in built]
        for fid, b in zip(filing_ids, built, strict=True):
            channel = channels.channel_of(self.adapter, b.agency)       # per agency (docs/adapters.md "Channels")
            self.filings.append(dict(
                id=fid, tenant_id=tenant_id, order_id=order_id, message_type=b.message_type,
                agency=b.agency, guid=b.guid, sequence=b.sequence, state=channels.initial_state(channel),
                last_status_code=None, signed_bytes=b.signed_bytes, sha256=b.sha256, business_key=b.business_key,
                built_with=self.built_with, created_at=now, updated_at=now, **correction))
            row = channels.outbox_row(uow, tenant_id=tenant_id, filing_id=fid, message_type=b.message_type,
                                      channel=channel, now=now)
            if row is not None:
                self.outbox.append(row)
        for action, detail in events:
            uow.audit.record(tenant_id, "order", order_id, action, detail)
        for fid, b in zip(filing_ids, built, strict=True):
            uow.audit.record(tenant_id, "filing", fid, "filing.signed",
                             {"message_type": b.message_type, "guid": b.guid, "sha256": b.sha256, **signed_too})
        return filing_ids

    def write(self) -> None:
        """Insert the filings, then their outbox rows: one statement each (none when there is nothing)."""
        if not (self.filings or self.outbox):
            return
        session = self.uow.session
        if session.new or session.dirty or session.deleted:
            session.flush()     # the ORM's rows first (an order added as an object: the foreign keys)
        conn = session.connection()      # Core straight to the connection: half the cost of Session.execute
        if self.filings:
            conn.execute(_INSERT_FILINGS, self.filings)
        if self.outbox:
            conn.execute(_INSERT_OUTBOX, self.outbox)
        self.filings, self.outbox = [], []


_INSERT_FILINGS, _INSERT_OUTBOX = core_insert(m.Filing), core_insert(m.OutboxItem)
