"""Return: CEB625 (import, 2020 No.45) and CEB213 (export, 2020 No.44)."""
from __future__ import annotations

import hashlib
from typing import cast

from gateway.declarations.ceb_reversals import RefundLine, build_ceb213, build_ceb625, reversal_key
from gateway.declarations.common import FilingContext
from gateway.domain import corrections as rules
from gateway.domain.cbec_export.order import ExportOrder
from gateway.domain.cbec_import.order import Order
from gateway.domain.parse import parse_order as parse_any
from gateway.domain.problems import Problem
from gateway.domain.return_lines import check_return_lines

from ..orders import NotFound
from .base import CorrectionBase
from .checks import _reason, _shipment
from .records import (
    _app_time,
    _body_of,
    _current,
    _doc,
    _inventory,
    _inventory_ref,
    _ref_dict,
    _released_at,
    _returned_quantities,
    _reversals_of,
)
from .results import REVERSAL_SEQUENCE, Corrected, CorrectionInvalid, CorrectionRefused, _Signed


class ReturnVerbs(CorrectionBase):
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
            root = build_ceb625(cast(Order, built_from), ctx, ref, reason, refund_lines)
            bkey = reversal_key(mt, ref)
            due_by = window.goods_due_by
        else:
            co_el_no = f"{cop_no}-R{earlier + 1}"
            ctx = FilingContext(guid=self.ids.new_guid(), app_time=now, transfer=transfer, cop_no=co_el_no)
            assert trip is not None     # an export return without its trip was refused above
            root = build_ceb213(cast(ExportOrder, built_from), ctx, ref, reason, refund_lines, trip)
            bkey = reversal_key(mt, ref, co_el_no)
            due_by = window.back_by
        data_bytes = self._sign(mt, root, key)
        s = _Signed(mt, ctx.guid, "1", None, "return", bkey, data_bytes, hashlib.sha256(data_bytes).hexdigest(),
                    REVERSAL_SEQUENCE)
        detail = {"message_type": mt, "inventory": _ref_dict(ref), "window": window.as_dict(),
                  "lines": [{"gnum": ln.gnum, "quantity": format(ln.quantity, "f")} for ln in check.lines],
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
        window: rules.ReturnWindow | rules.ExportReturnWindow
        if direction == "import":
            window = rules.return_window(released_at, now)
            late = rules.refuse_late_return(window)
        else:
            window = rules.export_return_window(released_at, now)
            late = rules.refuse_late_export_return(window)
        if late is not None:
            raise CorrectionRefused(late)
        return inventory, window, (inventory.id, inventory.state, tuple((r.id, r.state) for r in reversals))
