"""The CEB701 of a statisticsFlag-B export order, built late (docs/export.md "The order's summary").

Planned with the order, the summary application is signed at submission, before customs has numbered the
inventory, so it can only name a one-second window (startTime = endTime = appTime). It is never sent in
that form: the sender holds an order's CEB701 (sequence > 1) until it was built again here, and this
step builds it again once a CEB604 receipt of the order's own CEB603 gave the inventory's ``invtNo``:
the same guid, copNo and business key, listing that invtNo (SummaryApplyList, as the official sample),
signed with the tenant's key at the time of the rebuild. The filing's bytes, sha256 and ``built_with``
(``summary`` = {invt_no, app_time}: what a replay needs) are replaced in one transaction with a new
``filing.signed`` audit record (``rebuilt``: the sha256 it replaces), before anything was sent.

A CEB701 filed on its own (``gateway file summary``, sequence 1) lists its inventories already and is
never held.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import aliased

from gateway.declarations.common import Transfer
from gateway.domain import status as st
from gateway.domain.parse import parse_order
from gateway.store.models import Filing, Order, OutboxItem, ReceiptEvent

log = logging.getLogger("gateway.dispatch")

SUMMARY = "CEB701Message"
INVENTORY = "CEB603Message"
BATCH = 200
RETRY_SECONDS = 60.0         # a summary that could not be built waits this long before the next try
BUILT_MARK = '"summary": {'   # in built_with once built with the inventory's number (json.dumps spacing)


def awaits_inventory_number(message_type: str, sequence: int, built_with: str | None) -> bool:
    """Whether a filing is an order's CEB701 not yet built with its inventory's number."""
    if message_type != SUMMARY or sequence <= 1:
        return False
    return BUILT_MARK not in (built_with or "")


class OrderSummaries:
    """Builds the held CEB701 of each order whose inventory customs has numbered."""

    def __init__(self, uow_factory, clock, declarer, key):
        """``key``: the tenant's signing key chooser (``key(tenant_id)``) or one key."""
        self.uow_factory = uow_factory
        self.clock = clock
        self.declarer = declarer
        self.key = key
        self._due = None

    def build_due(self, result=None) -> int:
        """Build every held order CEB701 whose inventory is numbered; how many were built. Driven by the
        pending CEB701 filings (indexed) with an indexed lookup of the inventory's receipts."""
        with self.uow_factory() as uow:
            due = uow.session.execute(self._due_statement(), {"now": self.clock.now()}).all()
        keys: dict[str, object] = {}          # each tenant's key looked up once a pass
        built = sum(self._build(filing_id, invt_no, keys) for filing_id, invt_no in due)
        if result is not None:
            result.summaries_built += built
        return built

    def _due_statement(self):
        """The held CEB701 filings due and their inventory's number; built once (bound: ``now``)."""
        if self._due is not None:
            return self._due
        inventory = aliased(Filing)
        numbered = (select(ReceiptEvent.invt_no).join(inventory, inventory.id == ReceiptEvent.filing_id)
                    .where(inventory.tenant_id == Filing.tenant_id, inventory.order_id == Filing.order_id,
                           inventory.message_type == INVENTORY, ReceiptEvent.invt_no.is_not(None),
                           ReceiptEvent.outcome == "applied")
                    .order_by(ReceiptEvent.id).limit(1).scalar_subquery())
        queued = (select(OutboxItem.id).where(OutboxItem.filing_id == Filing.id, OutboxItem.state == "pending",
                                              OutboxItem.next_attempt_at <= bindparam("now"))  # not put off (_put_off)
                  .exists())
        # from the pending CEB701 filings (index filings(message_type, state), migration 0038): as many
        # as summaries wait, whatever the outbox's backlog
        self._due = (select(Filing.id, numbered)
                     .where(Filing.message_type == SUMMARY, Filing.state == st.PENDING, Filing.sequence > 1,
                            Filing.built_with.not_like(f"%{BUILT_MARK}%"), queued, numbered.is_not(None))
                     .limit(BATCH))
        return self._due

    def _build(self, filing_id: str, invt_no: str, keys: dict) -> int:
        now = self.clock.now()
        with self.uow_factory() as uow:        # read what the build needs; the key store opens its own
            filing = uow.session.get(Filing, filing_id)
            if filing is None or filing.state != st.PENDING or not awaits_inventory_number(
                    filing.message_type, filing.sequence, filing.built_with):
                return 0
            order = uow.session.get(Order, filing.order_id)
            tenant_id, order_id, guid, key_was = filing.tenant_id, order.id, filing.guid, filing.business_key
            body, normalized_text, cop_no = order.body, order.normalized, order.cop_no
            built_with_was, sha256_was = filing.built_with, filing.sha256
        try:
            normalized = json.loads(normalized_text or "{}")
            app_time = datetime.fromisoformat(normalized["app_time"])
            parsed = parse_order(body, on=app_time)
            if tenant_id not in keys:
                keys[tenant_id] = self.key(tenant_id) if callable(self.key) else self.key
            key = keys[tenant_id]
            rebuilt = self.declarer.order_summary(
                parsed, transfer=Transfer(**normalized["transfer"]), key=key, app_time=now,
                cop_no=cop_no, guid=guid, inventory_numbers=[invt_no])
        except Exception as exc:   # the summary stays held; the operator sees why in the log
            log.warning("the summary %s of order %s was not built with invtNo %s: %s", filing_id, order_id, invt_no, exc)
            self._put_off(filing_id, now)
            return 0
        if rebuilt.business_key != key_was:
            log.warning("the summary %s of order %s: rebuilt key %s differs from %s; left held",
                        filing_id, order_id, rebuilt.business_key, key_was)
            self._put_off(filing_id, now)
            return 0
        built_with = json.loads(built_with_was or "{}")
        built_with["summary"] = {"invt_no": invt_no, "app_time": now.isoformat()}
        with self.uow_factory() as uow:
            # only if nobody rebuilt it meanwhile (another dispatcher): the bytes that are sent are never
            # replaced once a rebuilt summary may have been claimed
            replaced = uow.session.execute(
                update(Filing).where(Filing.id == filing_id, Filing.state == st.PENDING,
                                     Filing.built_with == built_with_was)
                .values(signed_bytes=rebuilt.signed_bytes, sha256=rebuilt.sha256, built_with=json.dumps(built_with),
                        updated_at=now)
                .execution_options(synchronize_session=False)).rowcount
            if replaced != 1:
                return 0
            uow.audit.record(tenant_id, "filing", filing_id, "filing.signed",
                             {"message_type": SUMMARY, "guid": guid, "sha256": rebuilt.sha256,
                              "rebuilt": sha256_was, "invt_no": invt_no})
            uow.commit()
        return 1

    def _put_off(self, filing_id: str, now: datetime) -> None:
        """A summary that could not be built is tried again later (RETRY_SECONDS), so that it never takes a
        place in ``build_due`` from the summaries that can be."""
        with self.uow_factory() as uow:
            uow.session.execute(update(OutboxItem).where(OutboxItem.filing_id == filing_id,
                                                         OutboxItem.state == "pending")
                                .values(next_attempt_at=now + timedelta(seconds=RETRY_SECONDS))
                                .execution_options(synchronize_session=False))
            uow.commit()
