"""What every correction verb shares: reading the order, choosing the key, signing, storing the new
filing with its outbox row, correction record and audit records, withdrawing an unsent filing."""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime

from lxml import etree

from gateway import schemas
from gateway.declarations.common import Transfer
from gateway.domain import corrections as rules
from gateway.domain import status as st
from gateway.domain.problems import Problem
from gateway.ports import UuidGenerator
from gateway.store import models as m

from ..declare import BuiltFiling, FilingInvalid
from ..delivery.state import StateKeeper
from ..delivery.webhooks import WebhookEvents
from ..filing_rows import FilingRows
from ..orders import NotFound
from .results import CorrectionInvalid, CorrectionRefused, _Changes, _Signed

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)


class CorrectionBase:
    def __init__(self, uow_factory, declarer, key, clock, ids, keeper=None,
                 adapter: str | Callable[..., str | None] = "sandbox"):
        """``key``: the signing key, or the per-tenant chooser (tenant id -> key) the gateway uses;
        ``keeper``: the dispatcher's StateKeeper (state changes with their audit and webhook events);
        ``adapter``: the channel of every filing, or ``Gateway.channel_for`` (tenant id, agency=, uow=)."""
        if keeper is None:
            keeper = StateKeeper(clock, WebhookEvents(clock, UuidGenerator()))
        self.uow_factory, self.declarer, self.key, self.clock, self.ids = uow_factory, declarer, key, clock, ids
        self.keeper, self.adapter = keeper, adapter

    # ---- shared ----------------------------------------------------------------------------------

    def _order(self, uow, tenant_id: str, order_id: str, direction: str | None = None):
        order = uow.orders.get(tenant_id, order_id)
        if order is None:
            raise NotFound(f"order {order_id}")
        if direction is not None and order.direction != direction:
            other = "cancel_export / return_export" if order.direction == "export" else "cancel_inventory / return_goods"
            raise CorrectionInvalid([Problem("$", "direction", f"order {order.order_no} is an {order.direction} "
                                             f"order: use {other}")])
        if order.regime not in ("1210", "9610", "1239"):
            raise CorrectionRefused(rules.Refusal("not-correctable", f"regime {order.regime}: corrections and "
                                                  "reversals are built for CBEC orders (1210, 9610, 1239) only"))
        tenant = uow.tenants.get(tenant_id)
        if tenant is None:
            raise NotFound(f"tenant {tenant_id}")
        transfer = Transfer(cop_code=tenant.cop_code, cop_name=tenant.cop_name, dxp_id=tenant.dxp_id)
        return order, transfer, uow.filings.for_order(tenant_id, order_id)

    def _key(self, tenant_id: str):
        return self.key(tenant_id) if callable(self.key) else self.key

    def _sign(self, message_type: str, root, key) -> bytes:
        signed = self.declarer.signer_for(key).sign(root, key)
        errors = schemas.validate(etree.fromstring(signed, _PARSER))   # exactly what will be sent
        if errors:
            raise FilingInvalid([Problem(message_type, "xsd", e) for e in errors])
        return signed

    def _store(self, uow, tenant_id: str, order_id: str, s: _Signed, built_with: dict, now: datetime, *, kind: str,
               reason: str | None = None, order_version: int | None = None, due_by: date | None = None,
               detail: dict | None = None) -> tuple[str, str]:
        assert s.target is not None, "the target is set in the storing transaction"
        agency = s.target.agency
        # the tenant's channel for the agency of what it changes (gateway/service/channels.py); read in
        # this transaction (a second connection would wait on its lock)
        channel = self.adapter(tenant_id, agency=agency, uow=uow) if callable(self.adapter) else self.adapter
        rows = FilingRows(uow, tenant_id, {agency: channel}, now, built_with)
        built = BuiltFiling(message_type=s.message_type, agency=agency, sequence=s.sequence, guid=s.guid,
                            business_key=s.business_key, signed_bytes=s.signed, sha256=s.sha256)
        [fid] = rows.add(self.ids, order_id, [built], app_type=s.app_type, corrects_id=s.target.id)
        rows.write()                # the filing before the correction record that names it (foreign key)
        cid = self.ids.new_guid()
        uow.session.add(m.Correction(
            id=cid, tenant_id=tenant_id, order_id=order_id, filing_id=fid, target_id=s.target.id, kind=kind,
            reason=reason, order_version=order_version, due_by=due_by,
            detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True), requested_at=now))
        uow.audit.record(tenant_id, "order", order_id, "correction.filed",
                         {"correction_id": cid, "kind": kind, "filing_id": fid, "message_type": s.message_type,
                          "app_type": s.app_type, "target_id": s.target.id, "target_guid": s.target.guid,
                          "reason": reason, "due_by": due_by.isoformat() if due_by else None,
                          "order_version": order_version})
        return fid, cid

    def _withdraw(self, uow, old: m.Filing, by_filing: str, now: datetime, changes: _Changes) -> None:
        """An unsent filing replaced by a correction: its outbox row stops (never deleted) and it moves
        to ``withdrawn``. Refused if a dispatcher holds it now (the decision checked, the lock holds)."""
        row = uow.outbox.for_filing(old.tenant_id, old.id)
        if row is not None:
            if row.in_doubt or (row.claimed_until is not None and row.claimed_until > now) or row.state != "pending":
                raise CorrectionRefused(rules.Refusal("filing-in-flight", f"{old.message_type} is being sent right now; "
                                                      "try again once it was sent"))
            row.state, row.last_error = "failed", f"withdrawn before sending: replaced by filing {by_filing}"
        self.keeper.fresh(uow, old)
        self.keeper.set_state(uow, old, st.WITHDRAWN, None, f"replaced by filing {by_filing} before it was sent",
                              changes)
