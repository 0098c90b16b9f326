"""Corrections and reversals of filed orders (docs/corrections.md).

    service = CorrectionService.for_gateway(gw)
    service.modify_order(tenant_id, order_id, corrected_body)       # appType 2 (or a replacement)
    service.delete_filing(tenant_id, filing_id, reason)             # appType 3
    service.cancel_inventory(tenant_id, order_id, reason)           # CEB623 (import)
    service.return_goods(tenant_id, order_id, lines, reason)        # CEB625 (import, 2020 No.45)
    service.cancel_export(tenant_id, order_id, reason)              # CEB605
    service.return_export(tenant_id, order_id, lines, reason, shipment)   # CEB213 (2020 No.44)

Each one: reads the order and its filings, asks the state matrix (gateway.domain.corrections) and the
time limits, builds and signs the new filing outside any transaction, then in ONE transaction re-reads
the states under the order's lock (refusing if anything moved), stores the new filing (a new guid,
linked to the filing it changes), its outbox row, the correction record, the corrected order body
(a new version; nothing is overwritten) and the audit records, and refreshes the order's status.
A refusal raises ``CorrectionRefused`` (the state does not allow it: HTTP 409, with the rule) or
``CorrectionInvalid`` (the input is wrong: HTTP 422, with every problem); nothing is stored then.

When a reversal is accepted by customs, ``after_state_change`` (called by the state keeper in the
transaction that applies the receipt) moves the inventory to ``cancelled`` / ``refunded`` and, for an
import return of the whole order, gives the buyer's annual amount back (gateway/store/annual.py).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from lxml import etree
from sqlalchemy import select

from gateway import schemas
from gateway.declarations import matching
from gateway.declarations.builders import BUILDERS, business_key
from gateway.declarations.ceb_reversals import (
    InventoryRef, RefundLine, ReturnShipment, build_ceb213, build_ceb605, build_ceb623, build_ceb625, reversal_key)
from gateway.declarations.common import FilingContext, Transfer
from gateway.domain import corrections as rules
from gateway.domain import status as st
from gateway.domain.common.dates import CHINA_TZ
from gateway.domain.common.parties import Party
from gateway.domain.common.schema import loads
from gateway.domain.parse import order_number
from gateway.domain.parse import parse_order as parse_any
from gateway.domain.planning import plan
from gateway.domain.problems import OrderInvalid, Problem
from gateway.domain.return_lines import check_return_lines
from gateway.store import annual
from gateway.store import models as m

from .declare import FilingInvalid
from .orders import NotFound, _canonical_json

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
_COMPARE_GUID = "00000000-0000-4000-8000-000000000000"
REVERSAL_SEQUENCE = 1   # reversals never wait behind (or get blocked by) corrections of the order

__all__ = ["CorrectionService", "CorrectionRefused", "CorrectionInvalid", "Corrected", "after_state_change",
           "history"]


class CorrectionRefused(Exception):
    """The filing's state does not allow the change (HTTP 409). ``refusal`` names the rule."""

    def __init__(self, refusal: rules.Refusal):
        self.refusal = refusal
        super().__init__(f"[{refusal.rule}] {refusal.message}")

    @property
    def rule(self) -> str:
        return self.refusal.rule


class CorrectionInvalid(Exception):
    """The request is wrong (HTTP 422): every problem names the field and the rule."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Corrected:
    order_id: str
    kind: str                                   # modify, delete, cancel, return
    filing_ids: dict[str, str]                  # message type -> the new filing
    correction_ids: list[str]
    withdrawn: list[str] = field(default_factory=list)   # unsent filings the correction replaced
    due_by: date | None = None                  # returns: the goods are due back by (China date)
    order_version: int | None = None            # modify: the body version stored

    @property
    def filing_id(self) -> str:
        return next(iter(self.filing_ids.values()))


class _Changes:
    """What the state keeper wants to tell its caller (the dispatcher's round result)."""

    def __init__(self) -> None:
        self.changed_orders: set[str] = set()


@dataclass
class _Signed:
    message_type: str
    guid: str
    app_type: str
    target: m.Filing | None          # set in the storing transaction (re-read there)
    decision: str                   # rules.FILE / rules.REPLACE, or the kind for reversals
    business_key: str
    signed: bytes
    sha256: str
    sequence: int


class CorrectionService:
    def __init__(self, uow_factory, declarer, key, clock, ids, keeper=None, adapter: str = "sandbox"):
        """``key``: the signing key, or the per-tenant chooser (tenant id -> key) the gateway uses;
        ``keeper``: the dispatcher's StateKeeper (state changes with their audit and webhook events)."""
        if keeper is None:
            from gateway.ports import UuidGenerator

            from .delivery.state import StateKeeper
            from .delivery.webhooks import WebhookEvents

            keeper = StateKeeper(clock, WebhookEvents(clock, UuidGenerator()))
        self.uow_factory, self.declarer, self.key, self.clock, self.ids = uow_factory, declarer, key, clock, ids
        self.keeper, self.adapter = keeper, adapter

    @classmethod
    def for_gateway(cls, gw) -> "CorrectionService":
        return cls(gw.uow_factory, gw.declarer, gw.key_for or gw.key, gw.clock, gw.ids,
                   keeper=gw.dispatcher.keeper, adapter=gw.settings.adapter)

    # ---- modify / delete -------------------------------------------------------------------------

    def modify_order(self, tenant_id: str, order_id: str, new_body) -> Corrected:
        """File the corrected order: every document whose content changed is filed again with appType 2
        (or, if it never left the outbox, replaced by a new appType 1 and withdrawn). The corrected body
        must pass intake and the business rules (``OrderInvalid`` otherwise) and keep the order's
        numbers; the state of each changed document must allow it (``CorrectionRefused``)."""
        now = self.clock.now()
        text, data = _read_body(new_body)
        new_order = parse_any(data, on=now)
        new_hash = hashlib.sha256(_canonical_json(data).encode()).hexdigest()
        with self.uow_factory() as uow:
            order, transfer, filings = self._order(uow, tenant_id, order_id)
            version, base_text, base_hash = _current_body(uow, order, filings)
            base = parse_any(base_text, on=_app_time(order))
            _same_order(order, base, new_order)
            if new_hash == base_hash:
                raise CorrectionInvalid([Problem("$", "modify-no-change", "the corrected order is the order as filed")])
            planned = [p.message_type for p in plan(new_order)]
            if planned != [p.message_type for p in plan(base)]:
                raise CorrectionInvalid([Problem("$", "modify-plan", f"the corrected order needs other documents "
                                                 f"({', '.join(planned)}) than the order as filed; a modification "
                                                 "cannot add or remove documents")])
            compare = FilingContext(guid=_COMPARE_GUID, app_time=_app_time(order), transfer=transfer,
                                    cop_no=order.cop_no)
            changed = [mt for mt in planned
                       if _content(BUILDERS[mt](new_order, compare)) != _content(BUILDERS[mt](base, compare))]
            if not changed:
                raise CorrectionInvalid([Problem("$", "modify-no-change", "the correction changes no document that "
                                                 "was filed (only fields customs never sees)")])
            _keeps_numbers(changed, base, new_order, compare)
            decisions, targets = self._decide_modify(uow, filings, changed, now)
            snapshot = {mt: (t.id, t.state) for mt, t in targets.items()}
            sequences = {mt: t.sequence for mt, t in targets.items()}
            # appType 2 at customs; a replacement of an unsent filing keeps what that one would have said
            app_types = {mt: "2" if decisions[mt] == rules.FILE else (t.app_type or "1") for mt, t in targets.items()}
            cop_no = order.cop_no
        key = self._key(tenant_id)
        built_with = self.declarer.built_with(key)
        roots, contexts = {}, {}
        for mt in planned:
            if mt in changed:
                ctx = FilingContext(guid=self.ids.new_guid(), app_time=now, transfer=transfer, cop_no=cop_no,
                                    app_type=app_types[mt])
                contexts[mt] = ctx
            else:
                ctx = FilingContext(guid=_COMPARE_GUID, app_time=now, transfer=transfer, cop_no=cop_no)
            roots[mt] = BUILDERS[mt](new_order, ctx)
        problems = matching.check(roots) + matching.check_export(roots)
        if problems:
            raise FilingInvalid(problems)
        signed = []
        for mt in changed:
            ctx = contexts[mt]
            data_bytes = self._sign(mt, roots[mt], key)
            signed.append(_Signed(mt, ctx.guid, ctx.app_type, None, decisions[mt],
                                  business_key(mt, new_order, ctx), data_bytes, hashlib.sha256(data_bytes).hexdigest(),
                                  sequences[mt]))

        with self.uow_factory() as uow:
            self.keeper.lock_order(uow, tenant_id, order_id)
            order, _, filings = self._order(uow, tenant_id, order_id)
            again, targets = self._decide_modify(uow, filings, changed, now)
            if again != decisions or {mt: (t.id, t.state) for mt, t in targets.items()} != snapshot:
                raise CorrectionRefused(rules.Refusal("state-changed", "the order's filings moved while the "
                                                      "correction was being built; try again"))
            new_version = _last_version(uow, order) + 1
            uow.session.add(m.OrderVersion(tenant_id=tenant_id, order_id=order_id, version=new_version, body=text,
                                           body_sha256=new_hash, created_at=now))
            changes = _Changes()
            filing_ids, correction_ids, withdrawn = {}, [], []
            for s in signed:
                s.target = targets[s.message_type]
                kind = "modify" if s.decision == rules.FILE else "replace"
                fid, cid = self._store(uow, tenant_id, order_id, s, built_with, now, kind=kind,
                                       order_version=new_version,
                                       detail={"message_type": s.message_type, "app_type": s.app_type,
                                               "from_version": version, "to_version": new_version})
                filing_ids[s.message_type] = fid
                correction_ids.append(cid)
                if s.decision == rules.REPLACE:
                    self._withdraw(uow, s.target, fid, now, changes)
                    withdrawn.append(s.target.id)
            uow.audit.record(tenant_id, "order", order_id, "order.corrected",
                             {"version": new_version, "from_version": version, "body_sha256": new_hash,
                              "body_text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                              "filings": filing_ids, "withdrawn": withdrawn})
            self.keeper.refresh_order(uow, tenant_id, order_id)
            uow.commit()
        return Corrected(order_id, "modify", filing_ids, correction_ids, withdrawn, order_version=new_version)

    def _decide_modify(self, uow, filings, changed: list[str], now) -> tuple[dict, dict]:
        current = _current(filings)
        decisions, targets = {}, {}
        for mt in changed:
            target = current.get(mt)
            if target is None:
                raise CorrectionRefused(rules.Refusal("not-correctable", f"{mt} has no filing that stands"))
            inventory = current.get(rules.INVENTORY_OF.get(mt, ""))
            decision = rules.decide_correction(rules.MODIFY, _doc(uow, target, now),
                                               _doc(uow, inventory, now) if inventory is not None else None)
            if isinstance(decision, rules.Refusal):
                raise CorrectionRefused(decision)
            decisions[mt], targets[mt] = decision, target
        return decisions, targets

    def delete_filing(self, tenant_id: str, filing_id: str, reason: str | None = None) -> Corrected:
        """File appType 3 of the document ``filing_id`` stands for, built from the order version it was
        built from. Only the filing that stands for its document can be deleted."""
        now = self.clock.now()
        if reason is not None and (not isinstance(reason, str) or len(reason) > 1000):
            raise CorrectionInvalid([Problem("$.reason", "delete-reason", "reason is a text of at most 1000 characters")])
        with self.uow_factory() as uow:
            filing = uow.filings.get(tenant_id, filing_id)
            if filing is None:
                raise NotFound(f"filing {filing_id}")
            order_id = filing.order_id
            order, transfer, filings = self._order(uow, tenant_id, order_id)
            target, decision, snapshot = self._decide_delete(uow, filings, filing_id, now)
            body = _body_of(uow, order, target)
            built_from = parse_any(body, on=_app_time(order))
            mt, sequence, cop_no = target.message_type, target.sequence, order.cop_no
        key = self._key(tenant_id)
        ctx = FilingContext(guid=self.ids.new_guid(), app_time=now, transfer=transfer, cop_no=cop_no, app_type="3")
        data_bytes = self._sign(mt, BUILDERS[mt](built_from, ctx), key)
        s = _Signed(mt, ctx.guid, "3", None, decision, business_key(mt, built_from, ctx), data_bytes,
                    hashlib.sha256(data_bytes).hexdigest(), sequence)
        with self.uow_factory() as uow:
            self.keeper.lock_order(uow, tenant_id, order_id)
            order, _, filings = self._order(uow, tenant_id, order_id)
            target, _, again = self._decide_delete(uow, filings, filing_id, now)
            if again != snapshot:
                raise CorrectionRefused(rules.Refusal("state-changed", "the filing moved while the deletion was "
                                                      "being built; try again"))
            s.target = target
            fid, cid = self._store(uow, tenant_id, order_id, s, self.declarer.built_with(key), now, kind="delete",
                                   reason=reason, detail={"message_type": mt, "app_type": "3"})
            self.keeper.refresh_order(uow, tenant_id, order_id)
            uow.commit()
        return Corrected(order_id, "delete", {mt: fid}, [cid])

    def _decide_delete(self, uow, filings, filing_id: str, now):
        current = _current(filings)
        target = next((f for f in filings if f.id == filing_id), None)
        if target is None or current.get(target.message_type) is not target:
            standing = current.get(target.message_type) if target is not None else None
            raise CorrectionRefused(rules.Refusal("not-current", f"filing {filing_id} does not stand for its document"
                                                  + (f" (filing {standing.id} does)" if standing is not None else "")))
        inventory = current.get(rules.INVENTORY_OF.get(target.message_type, ""))
        decision = rules.decide_correction(rules.DELETE, _doc(uow, target, now),
                                           _doc(uow, inventory, now) if inventory is not None else None)
        if isinstance(decision, rules.Refusal):
            raise CorrectionRefused(decision)
        return target, decision, (target.id, target.state, inventory.state if inventory is not None else None)

    # ---- cancel ----------------------------------------------------------------------------------

    def cancel(self, tenant_id: str, order_id: str, reason) -> Corrected:
        """CEB623 or CEB605, by the order's direction."""
        with self.uow_factory() as uow:
            order = uow.orders.get(tenant_id, order_id)
            if order is None:
                raise NotFound(f"order {order_id}")
            direction = order.direction
        return (self.cancel_export if direction == "export" else self.cancel_inventory)(tenant_id, order_id, reason)

    def cancel_inventory(self, tenant_id: str, order_id: str, reason) -> Corrected:
        """CEB623 撤销申请单: cancel the order's released import inventory, with a reason."""
        return self._cancel(tenant_id, order_id, reason, "import")

    def cancel_export(self, tenant_id: str, order_id: str, reason) -> Corrected:
        """CEB605 撤销申请单: cancel the order's export inventory before its goods leave."""
        return self._cancel(tenant_id, order_id, reason, "export")

    def _cancel(self, tenant_id: str, order_id: str, reason, direction: str) -> Corrected:
        now = self.clock.now()
        mt = "CEB623Message" if direction == "import" else "CEB605Message"
        reason = _reason(reason, rules.REASON_MAX[mt], "cancel-reason",
                         "a cancellation needs its reason (撤单原因; −623012 撤单原因为空)")
        with self.uow_factory() as uow:
            order, transfer, filings = self._order(uow, tenant_id, order_id, direction)
            inventory, snapshot = self._decide_cancel(uow, filings, direction, now)
            ref = _inventory_ref(uow, order, inventory)
            built_from = parse_any(_body_of(uow, order, inventory), on=_app_time(order))
            cop_no = order.cop_no
        key = self._key(tenant_id)
        ctx = FilingContext(guid=self.ids.new_guid(), app_time=now, transfer=transfer, cop_no=cop_no)
        root = (build_ceb623 if direction == "import" else build_ceb605)(built_from, ctx, ref, reason)
        data_bytes = self._sign(mt, root, key)
        s = _Signed(mt, ctx.guid, "1", None, "cancel", reversal_key(mt, ref), data_bytes,
                    hashlib.sha256(data_bytes).hexdigest(), REVERSAL_SEQUENCE)
        with self.uow_factory() as uow:
            self.keeper.lock_order(uow, tenant_id, order_id)
            order, _, filings = self._order(uow, tenant_id, order_id, direction)
            s.target, again = self._decide_cancel(uow, filings, direction, now)
            if again != snapshot:
                raise CorrectionRefused(rules.Refusal("state-changed", "the inventory moved while the cancellation "
                                                      "was being built; try again"))
            fid, cid = self._store(uow, tenant_id, order_id, s, self.declarer.built_with(key), now, kind="cancel",
                                   reason=reason, detail={"message_type": mt, "inventory": _ref_dict(ref)})
            uow.commit()
        return Corrected(order_id, "cancel", {mt: fid}, [cid])

    def _decide_cancel(self, uow, filings, direction: str, now):
        current = _current(filings)
        inventory = _inventory(current, direction)
        reversals = _reversals_of(filings, inventory)
        departed = direction == "export" and any(
            f.message_type == "CEB509Message" and st.correction_done(_view(f)) for f in current.values())
        refusal = rules.decide_cancel(_doc(uow, inventory, now), [_doc(uow, r, now) for r in reversals],
                                      departed=departed)
        if refusal is not None:
            raise CorrectionRefused(refusal)
        return inventory, (inventory.id, inventory.state, tuple((r.id, r.state) for r in reversals), departed)

    # ---- return ----------------------------------------------------------------------------------

    def return_goods(self, tenant_id: str, order_id: str, lines=None, reason=None) -> Corrected:
        """CEB625 退货申请单 (2020 No.45): return goods of the released import inventory. ``lines``: None
        (everything not returned yet) or [{"gnum": 1, "quantity": "1"}, ...]. Refused after 30 days from
        the release; the goods are due back in the supervised site within 45 days (``Corrected.due_by``)."""
        return self._return(tenant_id, order_id, lines, reason, "import", None)

    def return_export(self, tenant_id: str, order_id: str, lines=None, reason=None, shipment=None) -> Corrected:
        """CEB213 零售出口退货申请单 (2020 No.44): exported goods come back, within 1 year of the export
        release. ``shipment``: the return trip ({"conveyance_name", "voyage_no", "bill_no", "waybill_no",
        "logistics": {"code", "name"}, "transport_mode", "port_code", "country", "supervision_site"});
        what it leaves out comes from the order."""
        return self._return(tenant_id, order_id, lines, reason, "export", shipment)

    def return_order(self, tenant_id: str, order_id: str, lines=None, reason=None, shipment=None) -> Corrected:
        """CEB625 or CEB213, by the order's direction."""
        with self.uow_factory() as uow:
            order = uow.orders.get(tenant_id, order_id)
            if order is None:
                raise NotFound(f"order {order_id}")
            direction = order.direction
        if direction == "export":
            return self.return_export(tenant_id, order_id, lines, reason, shipment)
        if shipment is not None:
            raise CorrectionInvalid([Problem("$.shipment", "return-shipment",
                                             "an import return names no shipment (the goods go back to the site)")])
        return self.return_goods(tenant_id, order_id, lines, reason)

    def _return(self, tenant_id: str, order_id: str, lines, reason, direction: str, shipment) -> Corrected:
        now = self.clock.now()
        mt = "CEB625Message" if direction == "import" else "CEB213Message"
        reason = _reason(reason, rules.REASON_MAX[mt], "return-reason", "a return needs its reason (退货原因)")
        with self.uow_factory() as uow:
            order, transfer, filings = self._order(uow, tenant_id, order_id, direction)
            inventory, window, snapshot = self._decide_return(uow, filings, direction, now)
            built_from = parse_any(_body_of(uow, order, inventory), on=_app_time(order))
            returned = _returned_quantities(uow, filings, inventory)
            check = check_return_lines({line.number: line.quantity for line in built_from.lines}, lines, returned)
            problems = list(check.problems)
            trip = _shipment(built_from, shipment, problems) if direction == "export" else None
            if problems:
                raise CorrectionInvalid(problems)
            ref = _inventory_ref(uow, order, inventory)
            earlier = sum(1 for f in filings if f.message_type == mt)
            cop_no = order.cop_no
        key = self._key(tenant_id)
        refund_lines = [RefundLine(line.gnum, line.quantity) for line in check.lines]
        if direction == "import":
            ctx = FilingContext(guid=self.ids.new_guid(), app_time=now, transfer=transfer, cop_no=cop_no)
            root = build_ceb625(built_from, ctx, ref, reason, refund_lines)
            bkey = reversal_key(mt, ref)
            due_by = window.goods_due_by
        else:
            co_el_no = f"{cop_no}-R{earlier + 1}"
            ctx = FilingContext(guid=self.ids.new_guid(), app_time=now, transfer=transfer, cop_no=co_el_no)
            root = build_ceb213(built_from, ctx, ref, reason, refund_lines, trip)
            bkey = reversal_key(mt, ref, co_el_no)
            due_by = window.back_by
        data_bytes = self._sign(mt, root, key)
        s = _Signed(mt, ctx.guid, "1", None, "return", bkey, data_bytes, hashlib.sha256(data_bytes).hexdigest(),
                    REVERSAL_SEQUENCE)
        detail = {"message_type": mt, "inventory": _ref_dict(ref), "window": window.as_dict(),
                  "lines": [{"gnum": l.gnum, "quantity": format(l.quantity, "f")} for l in check.lines],
                  "complete": check.complete}
        if direction == "export":
            detail["coElNo"] = ctx.cop_no
        with self.uow_factory() as uow:
            self.keeper.lock_order(uow, tenant_id, order_id)
            order, _, filings = self._order(uow, tenant_id, order_id, direction)
            s.target, _, again = self._decide_return(uow, filings, direction, now)
            if again != snapshot or _returned_quantities(uow, filings, s.target) != returned:
                raise CorrectionRefused(rules.Refusal("state-changed", "the inventory moved while the return was "
                                                      "being built; try again"))
            fid, cid = self._store(uow, tenant_id, order_id, s, self.declarer.built_with(key), now, kind="return",
                                   reason=reason, due_by=due_by, detail=detail)
            uow.commit()
        return Corrected(order_id, "return", {mt: fid}, [cid], due_by=due_by)

    def _decide_return(self, uow, filings, direction: str, now):
        current = _current(filings)
        inventory = _inventory(current, direction)
        reversals = _reversals_of(filings, inventory)
        refusal = rules.decide_return(_doc(uow, inventory, now), [_doc(uow, r, now) for r in reversals])
        if refusal is not None:
            raise CorrectionRefused(refusal)
        released_at = _released_at(uow, inventory)
        if released_at is None:
            raise CorrectionRefused(rules.Refusal("return-state", f"{inventory.message_type} has no release (800) "
                                                  "on record: nothing to return"))
        if direction == "import":
            window = rules.return_window(released_at, now)
            late = rules.refuse_late_return(window)
        else:
            window = rules.export_return_window(released_at, now)
            late = rules.refuse_late_export_return(window)
        if late is not None:
            raise CorrectionRefused(late)
        return inventory, window, (inventory.id, inventory.state, tuple((r.id, r.state) for r in reversals))

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
        fid, cid = self.ids.new_guid(), self.ids.new_guid()
        uow.session.add(m.Filing(
            id=fid, tenant_id=tenant_id, order_id=order_id, message_type=s.message_type, agency=s.target.agency,
            guid=s.guid, sequence=s.sequence, state=st.PENDING, last_status_code=None, signed_bytes=s.signed,
            sha256=s.sha256, business_key=s.business_key, built_with=json.dumps(built_with), created_at=now,
            updated_at=now, app_type=s.app_type, corrects_id=s.target.id))
        uow.session.add(m.OutboxItem(tenant_id=tenant_id, filing_id=fid, adapter=self.adapter, state="pending",
                                     attempts=0, next_attempt_at=now, created_at=now))
        uow.flush()
        uow.session.add(m.Correction(
            id=cid, tenant_id=tenant_id, order_id=order_id, filing_id=fid, target_id=s.target.id, kind=kind,
            reason=reason, order_version=order_version, due_by=due_by,
            detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True), requested_at=now))
        uow.audit.record(tenant_id, "filing", fid, "filing.signed",
                         {"message_type": s.message_type, "guid": s.guid, "sha256": s.sha256,
                          "app_type": s.app_type, "corrects": s.target.id})
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


# ---- after a receipt (called by the state keeper) -----------------------------------------------------

def after_state_change(keeper, uow, filing, before: str, after: str, result) -> None:
    """A reversal that reached its final good state acts on its inventory: cancelled (CEB623/605) or
    refunded (CEB625/213); an import return of the whole order gives the buyer's annual amount back
    (2020 No.45). Runs in the transaction that applied the receipt; once per reversal."""
    if filing.message_type not in st.REVERSALS or filing.corrects_id is None:
        return
    done_now = st.correction_done(st.FilingView(filing.message_type, filing.agency, after))
    done_before = st.correction_done(st.FilingView(filing.message_type, filing.agency, before))
    if not done_now or done_before:
        return
    target = uow.session.get(m.Filing, filing.corrects_id)
    if target is None:
        return
    _, new_state = st.REVERSALS[filing.message_type]
    keeper.fresh(uow, target)
    if target.state not in st.REVERSED:
        keeper.set_state(uow, target, new_state, None,
                         f"{filing.message_type} {filing.guid} accepted (status {filing.last_status_code})", result)
    if filing.message_type != "CEB625Message":
        return
    correction = uow.session.scalar(select(m.Correction).where(m.Correction.filing_id == filing.id))
    detail = json.loads(correction.detail) if correction is not None else {}
    now = keeper.clock.now()
    if not detail.get("complete"):
        uow.audit.record(filing.tenant_id, "order", filing.order_id, "annual.kept",
                         {"filing_id": filing.id, "reason": "partial return: the ledger gives back whole orders "
                          "only (gateway/store/annual.py restore)"}, at=now)
        return
    entry = annual.restore(uow, filing.order_id, tenant_id=filing.tenant_id, at=now)
    uow.audit.record(filing.tenant_id, "order", filing.order_id, "annual.restored" if entry is not None else "annual.kept",
                     {"filing_id": filing.id, "amount": entry.amount if entry is not None else None,
                      "reason": None if entry is not None else "the order was never counted toward the annual amount"},
                     at=now)


# ---- reading ------------------------------------------------------------------------------------------

def history(uow_factory, tenant_id: str, order_id: str, clock=None) -> dict:
    """The order's versions, every filing with what it corrects and what corrected it, the corrections
    and reversals with their reasons and deadlines, and the return window still open (if any)."""
    with uow_factory() as uow:
        order = uow.orders.get(tenant_id, order_id)
        if order is None:
            raise NotFound(f"order {order_id}")
        filings = sorted(uow.filings.for_order(tenant_id, order_id), key=lambda f: (f.created_at, f.id))
        corrections = list(uow.session.scalars(select(m.Correction).where(
            m.Correction.tenant_id == tenant_id, m.Correction.order_id == order_id)
            .order_by(m.Correction.requested_at, m.Correction.id)))
        versions = list(uow.session.scalars(select(m.OrderVersion).where(
            m.OrderVersion.tenant_id == tenant_id, m.OrderVersion.order_id == order_id).order_by(m.OrderVersion.version)))
        by_filing = {c.filing_id: c for c in corrections}
        corrected_by: dict[str, list[str]] = {}
        for f in filings:
            if f.corrects_id:
                corrected_by.setdefault(f.corrects_id, []).append(f.id)
        states = {f.id: f for f in filings}
        normalized = json.loads(order.normalized)
        out = {
            "order_id": order.id, "order_no": order.order_no, "direction": order.direction, "status": order.status,
            "status_reason": order.status_reason,
            "versions": [{"version": 1, "body_sha256": normalized.get("body_sha256"),
                          "at": order.received_at.isoformat()}]
                        + [{"version": v.version, "body_sha256": v.body_sha256, "at": v.created_at.isoformat()}
                           for v in versions],
            "filings": [], "corrections": [], "deadlines": [],
        }
        for f in filings:
            c = by_filing.get(f.id)
            out["filings"].append({
                "id": f.id, "message_type": f.message_type, "app_type": f.app_type, "guid": f.guid,
                "state": f.state, "status_code": f.last_status_code, "corrects": f.corrects_id,
                "corrected_by": corrected_by.get(f.id, []), "kind": c.kind if c else "original",
                "created_at": f.created_at.isoformat(),
                "receipts": [{"status_code": r.status_code, "time": r.status_time, "info": r.info,
                              "message_type": r.message_type, "outcome": r.outcome}
                             for r in uow.receipts.for_filing(f.id)],
            })
        for c in corrections:
            f = states.get(c.filing_id)
            out["corrections"].append({
                "id": c.id, "kind": c.kind, "filing_id": c.filing_id, "target_id": c.target_id,
                "message_type": f.message_type if f else None, "state": f.state if f else None,
                "reason": c.reason, "order_version": c.order_version,
                "due_by": c.due_by.isoformat() if c.due_by else None,
                "requested_at": c.requested_at.isoformat(), "detail": json.loads(c.detail)})
            if c.kind == "return" and c.due_by and f is not None and f.state != st.REJECTED:
                what = "goods-back-by" if order.direction == "import" else "export-return-by"
                out["deadlines"].append({"kind": what, "date": c.due_by.isoformat(), "correction_id": c.id,
                                         "rule": "2020 No.45: the goods back in the supervised site within 45 days "
                                                 "of release" if order.direction == "import" else
                                                 "2020 No.44: the goods back within 1 year of export release"})
        current = _current(filings)
        inventory = current.get("CEB621Message") or current.get("CEB603Message")
        if inventory is not None and inventory.state in (st.RELEASED, st.REFUNDED) and order.direction == "import":
            released_at = _released_at(uow, inventory)
            if released_at is not None:
                now = clock.now() if clock is not None else released_at
                window = rules.return_window(released_at, now)
                out["deadlines"].append({"kind": "return-apply-by", "date": window.apply_by.isoformat(),
                                         "rule": "2020 No.45: return application within 30 days of release",
                                         "open": window.open if clock is not None else None})
        return out


# ---- helpers ------------------------------------------------------------------------------------------

def _read_body(body) -> tuple[str, dict]:
    if isinstance(body, dict):
        return json.dumps(body, ensure_ascii=False, default=str), body
    try:
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
    except UnicodeDecodeError as exc:
        raise OrderInvalid([Problem("$", "json", f"not UTF-8 text: {exc}")]) from None
    if not isinstance(text, str):
        raise OrderInvalid([Problem("$", "schema:type", "an order is a JSON object")])
    data = loads(text)
    if not isinstance(data, dict):
        raise OrderInvalid([Problem("$", "schema:type", "an order is a JSON object")])
    return text, data


def _app_time(order: m.Order) -> datetime:
    try:
        return datetime.fromisoformat(json.loads(order.normalized)["app_time"])
    except (KeyError, TypeError, ValueError):
        return order.received_at


def _last_version(uow, order: m.Order) -> int:
    versions = uow.session.scalars(select(m.OrderVersion.version).where(m.OrderVersion.order_id == order.id)).all()
    return max(versions, default=1)


def _current_body(uow, order: m.Order, filings) -> tuple[int, str, str]:
    """(version, body, sha256 of its canonical JSON) of the order as it stands: the newest version not
    refused in full by customs (its every correction rejected); version 1 is ``orders.body``."""
    versions = list(uow.session.scalars(select(m.OrderVersion).where(m.OrderVersion.order_id == order.id)
                                        .order_by(m.OrderVersion.version.desc())))
    states = {f.id: f.state for f in filings}
    for v in versions:
        made = uow.session.scalars(select(m.Correction.filing_id).where(
            m.Correction.order_id == order.id, m.Correction.order_version == v.version)).all()
        if made and all(states.get(fid) == st.REJECTED for fid in made):
            continue
        return v.version, v.body, v.body_sha256
    return 1, order.body, json.loads(order.normalized).get("body_sha256", "")


def _body_of(uow, order: m.Order, filing: m.Filing) -> str:
    """The order body ``filing`` was built from: its correction's version, else version 1."""
    version = uow.session.scalar(select(m.Correction.order_version).where(m.Correction.filing_id == filing.id))
    if version:
        body = uow.session.scalar(select(m.OrderVersion.body).where(m.OrderVersion.order_id == order.id,
                                                                    m.OrderVersion.version == version))
        if body is not None:
            return body
    return order.body


def _same_order(order: m.Order, base, new) -> None:
    problems = []
    if order_number(new) != (order.platform_code, order.order_no):
        problems.append(Problem("$.order_no", "modify-same-order",
                                f"a correction keeps the order's number and platform ({order.platform_code} "
                                f"{order.order_no}); got {order_number(new)[0]} {order_number(new)[1]}"))
    for name in ("direction", "regime"):
        if getattr(new, name) != getattr(base, name):
            problems.append(Problem(f"$.{name}", "modify-same-order",
                                    f"a correction keeps the order's {name} ({getattr(base, name)})"))
    if problems:
        raise CorrectionInvalid(problems)


_KEY_PATHS = {"CEB311Message": "$.merchant.code", "CEB303Message": "$.merchant.code",
              "CEB411Message": "$.payment.transaction_no", "CEB403Message": "$.merchant.code",
              "CEB511Message": "$.logistics.waybill_no", "CEB505Message": "$.logistics.waybill_no"}


def _keeps_numbers(changed: list[str], base, new, ctx: FilingContext) -> None:
    problems = []
    for mt in changed:
        old_key, new_key = business_key(mt, base, ctx), business_key(mt, new, ctx)
        if old_key != new_key:
            problems.append(Problem(_KEY_PATHS.get(mt, "$"), "modify-keeps-numbers",
                                    f"{mt} would name another document ({new_key} instead of {old_key}): a "
                                    "modification keeps the document's numbers"))
    if problems:
        raise CorrectionInvalid(problems)


def _content(root) -> bytes:
    return etree.tostring(root, method="c14n")


def _view(f: m.Filing) -> st.FilingView:
    return st.FilingView(f.message_type, f.agency, f.state, id=f.id, app_type=f.app_type or "1",
                         corrects=f.corrects_id)


def _current(filings) -> dict[str, m.Filing]:
    by_id = {f.id: f for f in filings}
    return {mt: by_id[v.id] for mt, v in rules.current_versions([_view(f) for f in filings]).items()}


def _doc(uow, filing: m.Filing, now: datetime) -> rules.Doc:
    in_flight = False
    if filing.state == st.PENDING:
        row = uow.outbox.for_filing(filing.tenant_id, filing.id)
        in_flight = row is not None and (bool(row.in_doubt) or (row.claimed_until is not None and row.claimed_until > now))
    return rules.Doc(filing.message_type, filing.state, filing.last_status_code, in_flight, filing.app_type or "1")


def _inventory(current: dict, direction: str) -> m.Filing:
    mt = "CEB621Message" if direction == "import" else "CEB603Message"
    inventory = current.get(mt)
    if inventory is None:
        raise CorrectionRefused(rules.Refusal("no-inventory", f"the order has no {mt} that stands"))
    return inventory


def _reversals_of(filings, inventory: m.Filing) -> list[m.Filing]:
    return [f for f in filings if f.corrects_id == inventory.id and f.message_type in rules.REVERSAL_TYPES]


def _receipt_fields(uow, filing: m.Filing) -> list[dict]:
    rows = uow.session.scalars(select(m.ReceiptEvent).where(m.ReceiptEvent.filing_id == filing.id)
                               .order_by(m.ReceiptEvent.id)).all()
    out = []
    for r in rows:
        try:
            out.append((r, json.loads(r.parsed or "{}")))
        except ValueError:
            continue
    return out


def _inventory_ref(uow, order: m.Order, inventory: m.Filing) -> InventoryRef:
    """copNo (ours), and preNo and invtNo as customs' receipts told them; the invtNo is required."""
    pre_no = invt_no = None
    for _, fields in _receipt_fields(uow, inventory):
        pre_no = fields.get("preNo") or pre_no
        invt_no = fields.get("invtNo") or invt_no
    if not invt_no:
        raise CorrectionRefused(rules.Refusal("inventory-number-unknown", f"no receipt of {inventory.message_type} "
                                              "gave its inventory number (invtNo) yet"))
    if pre_no is not None and len(pre_no) != 18:
        pre_no = None
    return InventoryRef(order.cop_no, invt_no, pre_no)


def _ref_dict(ref: InventoryRef) -> dict:
    return {"copNo": ref.cop_no, "invtNo": ref.invt_no, "preNo": ref.pre_no}


def _released_at(uow, inventory: m.Filing) -> datetime | None:
    """When customs released the inventory: the returnTime of the first applied 800/899 receipt (China
    time), else when we applied it."""
    for event, _ in _receipt_fields(uow, inventory):
        if event.outcome == "applied" and st.state_for(event.message_type, event.status_code or "") == st.RELEASED:
            return _receipt_time(event.status_time) or event.at
    return None


def _receipt_time(text: str | None) -> datetime | None:
    if not text or len(text) < 14 or not text[:14].isdigit():
        return None
    try:
        return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=CHINA_TZ)
    except ValueError:
        return None


def _returned_quantities(uow, filings, inventory: m.Filing) -> dict[int, Decimal]:
    """gnum -> quantity in the returns of this inventory that customs has not refused."""
    states = {f.id: f.state for f in filings}
    rows = uow.session.scalars(select(m.Correction).where(m.Correction.target_id == inventory.id,
                                                          m.Correction.kind == "return")).all()
    out: dict[int, Decimal] = {}
    for c in rows:
        if states.get(c.filing_id) in (st.REJECTED, st.WITHDRAWN):
            continue
        for line in json.loads(c.detail).get("lines", []):
            out[int(line["gnum"])] = out.get(int(line["gnum"]), Decimal(0)) + Decimal(line["quantity"])
    return out


def _reason(reason, limit: int, rule: str, what: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise CorrectionInvalid([Problem("$.reason", rule, what)])
    reason = reason.strip()
    if len(reason) > limit:
        raise CorrectionInvalid([Problem("$.reason", rule, f"the reason has {len(reason)} characters, at most {limit}")])
    return reason


_SHIPMENT_FIELDS = {"conveyance_name": 100, "voyage_no": 32, "bill_no": 37, "waybill_no": 80, "transport_mode": 1,
                    "port_code": 4, "country": 3, "supervision_site": 10, "logistics": None}


def _shipment(order, given, problems: list[Problem]) -> ReturnShipment | None:
    """The export return trip: what ``given`` says, the order's logistics for the rest."""
    given = {} if given is None else given
    if not isinstance(given, dict):
        problems.append(Problem("$.shipment", "return-shipment", "shipment is an object"))
        return None
    for name in sorted(set(given) - set(_SHIPMENT_FIELDS)):
        problems.append(Problem(f"$.shipment.{name}", "return-shipment", "unknown field"))
    lg = order.logistics
    company = given.get("logistics")
    if company is not None and not (isinstance(company, dict) and isinstance(company.get("code"), str)
                                    and isinstance(company.get("name"), str) and company["code"] and company["name"]
                                    and len(company["code"]) <= 18 and len(company["name"]) <= 100):
        problems.append(Problem("$.shipment.logistics", "return-shipment",
                                "logistics is {code (1..18), name (1..100)} of the carrier bringing the goods back"))
        company = None
    values = {
        "conveyance_name": given.get("conveyance_name", lg.conveyance_name),
        "voyage_no": given.get("voyage_no", lg.voyage_no),
        "waybill_no": given.get("waybill_no", lg.waybill_no),
        "transport_mode": given.get("transport_mode", lg.transport_mode),
        "port_code": given.get("port_code", order.port_code),
        "country": given.get("country", lg.destination_country),
        "supervision_site": given.get("supervision_site", order.supervision_site),
    }
    values["bill_no"] = given.get("bill_no", lg.bill_no or values["waybill_no"])
    for name, value in values.items():
        limit = _SHIPMENT_FIELDS[name]
        if value is None and name == "supervision_site":
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(f"$.shipment.{name}", "return-shipment",
                                    f"{name} is required for the return trip (CEB213) and the order has none"))
        elif len(value) > limit or (name in ("transport_mode", "port_code", "country") and len(value) != limit):
            problems.append(Problem(f"$.shipment.{name}", "return-shipment",
                                    f"{name} {value!r} must have {'exactly' if name in ('transport_mode', 'port_code', 'country') else 'at most'} "
                                    f"{limit} characters"))
    if values["country"] == "142":
        problems.append(Problem("$.shipment.country", "return-shipment",
                                "the goods come back from abroad: 启运国 is not China (142)"))
    if problems:
        return None
    carrier = Party(company["code"], company["name"]) if company else Party(lg.company.code, lg.company.name)
    return ReturnShipment(carrier, values["waybill_no"], values["bill_no"], values["transport_mode"],
                          values["conveyance_name"], values["voyage_no"], values["port_code"], values["country"],
                          values["supervision_site"])
