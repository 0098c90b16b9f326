"""Cancel: CEB623 (import inventory) and CEB605 (export inventory, before the goods leave)."""
from __future__ import annotations

import hashlib
from typing import Any, cast

from gateway.declarations.ceb_reversals import build_ceb605, build_ceb623, reversal_key
from gateway.declarations.common import FilingContext
from gateway.domain import corrections as rules
from gateway.domain import status as st
from gateway.domain.parse import parse_order as parse_any

from ..orders import NotFound
from .base import CorrectionBase
from .checks import _reason
from .records import _app_time, _body_of, _current, _doc, _inventory, _inventory_ref, _ref_dict, _reversals_of, _view
from .results import REVERSAL_SEQUENCE, Corrected, CorrectionRefused, _Signed


class CancelVerbs(CorrectionBase):
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
        # the order's direction was checked by _order: an import order for CEB623, an export one for CEB605
        root = (build_ceb623 if direction == "import" else build_ceb605)(cast(Any, built_from), ctx, ref, reason)
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
