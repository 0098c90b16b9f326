"""Corrections and reversals of filed orders (docs/corrections.md).

    service = CorrectionService.for_gateway(gw)
    service.modify_order(tenant_id, order_id, corrected_body)       # appType 2 (or a replacement)
    service.delete_filing(tenant_id, filing_id, reason)             # appType 3
    service.cancel_inventory(tenant_id, order_id, reason)           # CEB623 (import)
    service.return_goods(tenant_id, order_id, lines, reason)        # CEB625 (import, 2020 No.45)
    service.cancel_export(tenant_id, order_id, reason)              # CEB605
    service.return_export(tenant_id, order_id, lines, reason, shipment)   # CEB213 (2020 No.44)

One module per verb (modify.py: modify and delete; cancel.py; returns.py), on what they share
(base.py: signing and storing; records.py: reading what is stored; checks.py: checks of the input;
results.py: what they give back). Each one: reads the order and its filings, asks the state matrix
(gateway.domain.corrections) and the time limits, builds and signs the new filing outside any transaction, then in ONE transaction re-reads
the states under the order's lock (refusing if anything moved), stores the new filing (a new guid,
linked to the filing it changes), its outbox row, the correction record, the corrected order body
(a new version; nothing is overwritten) and the audit records, and refreshes the order's status.
A refusal raises ``CorrectionRefused`` (the state does not allow it: HTTP 409, with the rule) or
``CorrectionInvalid`` (the input is wrong: HTTP 422, with every problem); nothing is stored then.

When a reversal is accepted by customs, ``after_state_change`` (gateway/service/delivery/reversals.py,
called by the state keeper in the transaction that applies the receipt) moves the inventory to
``cancelled`` / ``refunded`` and, for an import return of the whole order, gives the buyer's annual
amount back (gateway/store/annual.py).
"""
from __future__ import annotations

from ..delivery.reversals import after_state_change
from .cancel import CancelVerbs
from .history import history
from .modify import ModifyVerbs
from .results import Corrected, CorrectionInvalid, CorrectionRefused
from .returns import ReturnVerbs

__all__ = ["CorrectionService", "CorrectionRefused", "CorrectionInvalid", "Corrected", "after_state_change",
           "history"]


class CorrectionService(ModifyVerbs, CancelVerbs, ReturnVerbs):
    """modify_order, delete_filing, cancel / cancel_inventory / cancel_export, return_order / return_goods /
    return_export; the constructor is ``CorrectionBase.__init__``."""

    @classmethod
    def for_gateway(cls, gw) -> CorrectionService:
        return cls(gw.uow_factory, gw.declarer, gw.key_for or gw.key, gw.clock, gw.ids,
                   keeper=gw.dispatcher.keeper, adapter=gw.channel_for)
