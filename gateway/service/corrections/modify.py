"""Modify (appType 2, or a replacement of an unsent filing) and delete (appType 3)."""
from __future__ import annotations

import hashlib

from gateway.declarations import matching
from gateway.declarations.builders import BUILDERS, business_key
from gateway.declarations.common import FilingContext
from gateway.domain import corrections as rules
from gateway.domain import status as st
from gateway.domain.agencies import single_limit_refusal
from gateway.domain.parse import parse_order as parse_any
from gateway.domain.planning import plan
from gateway.domain.problems import Problem
from gateway.store import models as m

from ..declare import FilingInvalid
from ..orders import NotFound, _canonical_json
from .base import CorrectionBase
from .checks import _content, _keeps_numbers, _same_order
from .records import _app_time, _body_of, _current, _current_body, _doc, _last_version, _read_body
from .results import Corrected, CorrectionInvalid, CorrectionRefused, _Changes, _Signed

_COMPARE_GUID = "00000000-0000-4000-8000-000000000000"


class ModifyVerbs(CorrectionBase):
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
            refusal = single_limit_refusal(new_order)     # customs would refuse it (−621005): not filed
            if refusal is not None:
                raise CorrectionInvalid([refusal])
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

    def resubmit_order(self, tenant_id: str, order_id: str, new_body) -> Corrected:
        """A rejected order corrected and declared again: ``modify_order`` on an order whose combined
        status is ``rejected`` (the refused documents are filed again with appType 2, linked to the
        filings they replace; the order version is kept). ``CorrectionRefused`` for any other order."""
        with self.uow_factory() as uow:
            order, _, _ = self._order(uow, tenant_id, order_id)
            status = order.status
        if status != st.ORDER_REJECTED:
            raise CorrectionRefused(rules.Refusal("resubmit-not-rejected", f"the order is {status}: only a rejected "
                                                  "order is corrected and declared again (use modify)"))
        return self.modify_order(tenant_id, order_id, new_body)

    def current_body(self, tenant_id: str, order_id: str) -> str:
        """The order as last filed (its latest version), as the text it was submitted in."""
        with self.uow_factory() as uow:
            order, _, filings = self._order(uow, tenant_id, order_id)
            return _current_body(uow, order, filings)[1]

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
        assert target is not None   # refused above otherwise
        inventory = current.get(rules.INVENTORY_OF.get(target.message_type, ""))
        decision = rules.decide_correction(rules.DELETE, _doc(uow, target, now),
                                           _doc(uow, inventory, now) if inventory is not None else None)
        if isinstance(decision, rules.Refusal):
            raise CorrectionRefused(decision)
        return target, decision, (target.id, target.state, inventory.state if inventory is not None else None)
