"""Filing states and the order's combined status.

A filing moves through states driven by government receipts (returnStatus codes, ceb-messages.md
§4.2). A receipt is applied only if it moves the filing forward. The order's combined status is
"released" only when every filing of every agency (customs, inspection, tax, FX) has reached its
final good state (一次申报、一次查验、一次放行); ``per_agency`` gives each agency's own status.
"""
from __future__ import annotations

from dataclasses import dataclass

# States in rank order; a receipt may move a filing to a state of higher rank only.
PENDING = "pending"        # built, signed, stored; waiting in the outbox
SENT = "sent"              # handed to the adapter, no receipt yet
DECLARED = "declared"      # e-port has it (1 draft, 2 declaring, 3 sent to customs)
ACCEPTED = "accepted"      # 120 海关入库: customs logic check passed
REVIEW = "review"          # 300 manual review, 500 inspection, 5xx detained
CONCLUDED = "concluded"    # 399 海关审结
RELEASED = "released"      # 800 放行 (899 结关 also maps here)
REJECTED = "rejected"      # 100 退单, 4 send failure, negative e-port codes, CEB900 format errors
RETURNED = "returned"      # 700 退运

RANK: dict[str, float] = {PENDING: 0, SENT: 1, DECLARED: 2, ACCEPTED: 3, REVIEW: 4, CONCLUDED: 5, RELEASED: 6,
        REJECTED: 7, RETURNED: 7}

# General trade (DecMessage): customs orders an inspection when it assesses the declaration
# (审结 → 查验 → 放行), so this state ranks between concluded and released.
INSPECTION = "inspection"  # CHANNEL C 查验通知 (S 施检, one source)
RANK[INSPECTION] = 5.5

# The state at which a filing of each type is done and good. Order, payment and waybill are
# finished once customs stores them (120); the inventory is what customs releases.
FINAL_GOOD = {
    "CEB311Message": ACCEPTED,
    "CEB411Message": ACCEPTED,
    "CEB511Message": ACCEPTED,
    "CEB621Message": RELEASED,
    "DecMessage": RELEASED,     # general trade: the declaration is what customs releases
    # CBEC export (docs/export.md): order, receipt of payment, waybill, bill list, arrival and
    # departure are done once customs stores them (120). The inventory is done when released (800)
    # whatever its statisticsFlag: A or B only decides whether a summary follows, not when the goods
    # may leave. The summary application is done when customs concludes it (399); the CEB792
    # summary result that follows brings declSeqNo (and later entryId) without changing the state.
    "CEB303Message": ACCEPTED,
    "CEB403Message": ACCEPTED,
    "CEB505Message": ACCEPTED,
    "CEB607Message": ACCEPTED,
    "CEB507Message": ACCEPTED,
    "CEB509Message": ACCEPTED,
    "CEB603Message": RELEASED,
    "CEB701Message": CONCLUDED,
    # the other parties' messages of the 202205 set: a waybill status is done once stored (120), a
    # warehouse-entry list and a return tally when concluded (399, ceb-messages.md §4.2)
    "CEB513Message": ACCEPTED,
    "CEB711Message": CONCLUDED,
    "CEB215Message": CONCLUDED,
    # one entry, four agencies (docs/tax-fx.md "Agency filings"): each agency's record is done when that
    # agency releases it (AgencyReceipt "released"; the CBEC tax record when customs issues the CEB816
    # tax bill of the order's inventory)
    "InspectionRecord": RELEASED,
    "TaxRecord": RELEASED,
    "RebateRecord": RELEASED,
    "FxRecord": RELEASED,
}

# AgencyReceipt status (our own receipt format, gateway/schemas/agency-receipt.xsd) -> filing state
AGENCY_RECEIPT_STATES = {"accepted": ACCEPTED, "inspection": INSPECTION, "released": RELEASED,
                         "rejected": REJECTED}
# CEB816/818 tax bill status (1 已生成 issued, 2 已汇总 summarised for payment, 3 作废 voided) -> the
# state of the order's tax record. A voided bill never moves the record (it stays where it is).
TAX_BILL_STATES = {"1": RELEASED, "2": RELEASED}


def state_for_code(code: str) -> str:
    """Map a returnStatus code to a filing state."""
    code = code.strip()
    if code.startswith("-"):
        return REJECTED
    return {
        "1": DECLARED, "2": DECLARED, "3": DECLARED,
        "4": REJECTED, "100": REJECTED,
        "120": ACCEPTED,
        "300": REVIEW, "500": REVIEW, "501": REVIEW, "502": REVIEW, "503": REVIEW, "505": REVIEW,
        "599": REVIEW, "600": REVIEW,
        "399": CONCLUDED,
        "700": RETURNED,
        "800": RELEASED, "899": RELEASED,
    }.get(code) or (DEC_CHANNEL_STATES.get(code, DECLARED) if not code.isdigit() else DECLARED)


# General trade: DEC_RESULT CHANNEL codes (general-trade-inspection-fx-tax.md §1.8, consolidated from
# public code bases [P]; rows whose meaning the sources dispute are marked [U]). The letters never
# collide with CEB returnStatus codes, so ``state_for_code`` maps them too; the digits 8 and 9 do
# (they mean nothing in CEB), so only ``state_for`` knows them.
DEC_CHANNEL_STATES = {
    "3": DECLARED,       # e-port upload succeeded
    "7": DECLARED,       # lodged (申报成功)
    "4": REJECTED,       # e-port upload failed
    "8": REJECTED,       # uploaded, no lodging authority
    "9": REJECTED,       # direct lodging failed
    "Y": REJECTED,       # lodging failed / no authority
    "E": REJECTED,       # 退单: customs returned it
    "Z": REJECTED,       # 退回修改 or deleted before release [U]
    "A": REJECTED,       # deleted before release / exception
    "D": REJECTED,       # deleted after release
    "L": ACCEPTED,       # 海关入库成功 (entered the customs database)
    "G": REVIEW,         # 接单交单 (one source) or 已审结 (another) [U]
    "H": REVIEW,         # suspended, manual lodging
    "M": REVIEW,         # re-examination
    "V": REVIEW, "Q": REVIEW,   # valuation
    "J": CONCLUDED, "W": CONCLUDED,   # 审结
    "T": CONCLUDED,      # duties and taxes payable
    "C": INSPECTION,     # release with inspection notice: inspection ordered
    "S": INSPECTION,     # 施检 [U]
    "B": RELEASED, "K": RELEASED,     # guarantee release
    "I": RELEASED, "P": RELEASED, "F": RELEASED,   # released
    "R": RELEASED,       # 结关 closed (final)
    # X, O, # (port / gate entry) and N (re-send) [U] stay at DECLARED: they never move a filing
}
DEC_RESPONSE_ACCEPTED = "0"   # DecImportResponse/ResponseCode "0" 通讯回执; anything else failed [U]


def state_for(receipt_type: str, code: str) -> str:
    """The filing state a receipt entry of ``receipt_type`` with status ``code`` maps to: CEB
    returnStatus codes, or for general trade DecImportResponse ResponseCode and DEC_RESULT CHANNEL,
    for agency records the AgencyReceipt status, for the CBEC tax record the CEB816/818 bill status."""
    code = code.strip()
    if receipt_type == "CEB792Message":
        # the summary result carries decState (codes set by customs, not returnStatus): it follows
        # the concluded summary application and never moves it anywhere else
        return CONCLUDED
    if receipt_type == "DecImportResponse":
        return DECLARED if code == DEC_RESPONSE_ACCEPTED else REJECTED
    if receipt_type == "DEC_RESULT":
        return DEC_CHANNEL_STATES.get(code, DECLARED)
    if receipt_type == "AgencyReceipt":
        return AGENCY_RECEIPT_STATES.get(code, DECLARED)
    if receipt_type in ("CEB816Message", "CEB818Message"):
        return TAX_BILL_STATES.get(code, DECLARED)
    if receipt_type == "DxpRep":
        # the exchange platform's answer: an error code (0001–9999) refuses the transmission; a code of
        # zeros only confirms the hand-over and moves nothing
        return SENT if code.strip("0") == "" else REJECTED
    return state_for_code(code)


def moves_forward(current: str, new: str) -> bool:
    """Whether a receipt that maps to ``new`` should change a filing now in ``current``: only to a
    state of higher rank; rejected and returned are final."""
    if current in (REJECTED, RETURNED) or current in REVERSED:
        return False
    return RANK[new] > RANK[current]


def is_done(message_type: str, state: str) -> bool:
    final = FINAL_GOOD.get(message_type, RELEASED)
    return state not in (REJECTED, RETURNED) and RANK[state] >= RANK[final]


# Combined status of an order
RECEIVED = "received"
IN_PROGRESS = "in_progress"
ORDER_RELEASED = "released"
ORDER_REJECTED = "rejected"
# Held at intake: customs would refuse it (a rule known before sending, gateway.domain.agencies.HOLD_RULES);
# stored with no filings, nothing signed or sent, until the operator releases it (docs/tax-fx.md "Held orders")
ORDER_HELD = "held"


@dataclass(frozen=True)
class FilingView:
    message_type: str
    agency: str
    state: str
    reason: str | None = None
    # corrections (docs/corrections.md): the filing's id, its appType (1 add, 2 modify, 3 delete) and the
    # id of the filing it changes (a correction, a replacement or a reversal); None for an original
    id: str | None = None
    app_type: str = "1"
    corrects: str | None = None


def combined_status(filings: list[FilingView]) -> tuple[str, str | None]:
    """(status, reason). Rejected if any filing was rejected (with every reason), released when all
    are done, otherwise in progress."""
    if not filings:
        return RECEIVED, None
    untransmitted = [f for f in filings if f.state == NOT_TRANSMITTED]
    if untransmitted and len(untransmitted) == len(filings):
        return NOT_TRANSMITTED, f"{NO_CHANNEL}: " + ", ".join(f.message_type for f in untransmitted)
    filings = [f for f in filings if f.state != NOT_TRANSMITTED]
    filings, settled = resolve_corrections(filings)   # corrections and reversals (docs/corrections.md)
    if settled is not None:
        return settled
    rejected = [f for f in filings if f.state in (REJECTED, RETURNED)]
    if rejected:
        reasons = "; ".join(f"{f.message_type}: {f.reason or f.state}" for f in rejected)
        return ORDER_REJECTED, reasons
    if all(is_done(f.message_type, f.state) for f in filings):
        # released by every agency a channel reaches; the records no channel carries are named
        return ORDER_RELEASED, (f"{NO_CHANNEL}: " + ", ".join(f.message_type for f in untransmitted)
                                if untransmitted else None)
    return IN_PROGRESS, None


def per_agency(filings: list[FilingView]) -> dict[str, str]:
    """The status of each agency: same rule as the combined status, per agency."""
    by: dict[str, list[FilingView]] = {}
    for f in filings:
        by.setdefault(f.agency, []).append(f)
    return {agency: combined_status(fs)[0] for agency, fs in sorted(by.items())}


# -- corrections and reversals (docs/corrections.md, gateway/domain/corrections.py) -------------------
#
# A correction is a new filing linked to the one it changes (``FilingView.corrects``): appType 2 (modify)
# or 3 (delete) of the same message type, or an appType 1 replacement of a filing that was never sent.
# A reversal is a cancellation (CEB623 import, CEB605 export) or a return (CEB625 import, CEB213 export)
# of a released inventory, linked to that inventory.

CANCELLED = "cancelled"    # the inventory was cancelled: its CEB623 / CEB605 was concluded (撤单)
REFUNDED = "refunded"      # goods returned by the buyer: its CEB625 / CEB213 (InvtRefund) was accepted (退货)
WITHDRAWN = "withdrawn"    # never sent: replaced by a correction while it waited in the outbox
REVERSED = (CANCELLED, REFUNDED)
RANK[WITHDRAWN] = 7
# An agency record no channel carries (docs/adapters.md "Channels"): prepared and signed, kept for the
# operator, never sent. Final; it neither blocks customs filings nor makes the order rejected.
NOT_TRANSMITTED = "not_transmitted"
NO_CHANNEL = "prepared, not transmitted (no channel)"
RANK[NOT_TRANSMITTED] = 7
RANK[CANCELLED] = RANK[REFUNDED] = 8   # above everything: no later receipt moves them

# Final good states of the reversal messages (their receipts, ceb-messages.md §4.2 and §5/§6):
# CEB624 / CEB626 / CEB606 end at 399 海关审结 (the cancellation / return is concluded);
# CEB214 (export return) has no 399: it ends at 800 放行 (the goods may come back in).
FINAL_GOOD.update({
    "CEB623Message": CONCLUDED,
    "CEB625Message": CONCLUDED,
    "CEB605Message": CONCLUDED,
    "CEB213Message": RELEASED,
})
DELETE_DONE = ACCEPTED     # a deletion (appType 3) is done once customs took it (120) [UNCONFIRMED]

ORDER_CANCELLED = "cancelled"   # the order's inventory was cancelled
ORDER_RETURNED = "returned"     # goods of the order were returned by the buyer (all or some lines)
ORDER_DELETED = "deleted"       # a document of the order was deleted (appType 3) at customs

# reversal message -> (order status it brings when done, state it gives the inventory)
REVERSALS = {
    "CEB623Message": (ORDER_CANCELLED, CANCELLED),
    "CEB605Message": (ORDER_CANCELLED, CANCELLED),
    "CEB625Message": (ORDER_RETURNED, REFUNDED),
    "CEB213Message": (ORDER_RETURNED, REFUNDED),
}


def correction_done(view: FilingView) -> bool:
    """Whether a filing reached its final good state; a deletion (appType 3) is done at 120."""
    if view.app_type == "3":
        return view.state not in (REJECTED, RETURNED, WITHDRAWN) and RANK[view.state] >= RANK[DELETE_DONE]
    return is_done(view.message_type, view.state)


def resolve_corrections(filings: list[FilingView]) -> tuple[list[FilingView], tuple[str, str | None] | None]:
    """(the filings that count for the combined status, a settled status or None).

    - a withdrawn filing (replaced before it was sent) does not count;
    - a correction stands in for the filing it changes, unless customs refused it: then the
      original stands and the refusal stays in the filing's history (the order is not rejected
      because a modification was refused), except when the original was withdrawn (then the refused
      replacement is the document);
    - a reversal counts only once done: a concluded cancellation makes the order ``cancelled``, an
      accepted return ``returned``; one in flight or refused leaves the status as it was;
    - a deletion that is done makes the order ``deleted``.
    Views without ids (older callers) pass through unchanged.
    """
    by_id = {f.id: f for f in filings if f.id is not None}
    reversal_done = [f for f in filings if f.message_type in REVERSALS and correction_done(f)]
    inventories = [f for f in filings if f.state in REVERSED]
    if reversal_done or inventories:
        cancelled = ([f for f in reversal_done if REVERSALS[f.message_type][0] == ORDER_CANCELLED]
                     + [f for f in inventories if f.state == CANCELLED])
        if cancelled:
            return filings, (ORDER_CANCELLED, f"{cancelled[0].message_type}: cancelled (撤单)")
        first = reversal_done[0] if reversal_done else inventories[0]
        return filings, (ORDER_RETURNED, f"{first.message_type}: goods returned (退货)")

    def stands(c: FilingView) -> bool:
        target = by_id.get(c.corrects) if c.corrects is not None else None
        return c.state != REJECTED or target is None or target.state == WITHDRAWN

    corrections = [f for f in filings if f.corrects is not None and f.message_type not in REVERSALS]
    superseded = {c.corrects for c in corrections if stands(c)}
    counted = [f for f in filings
               if f.state != WITHDRAWN and f.id not in superseded and f.message_type not in REVERSALS
               and not (f.corrects is not None and not stands(f))]
    deleted = [f for f in counted if f.app_type == "3" and correction_done(f)]
    if deleted:
        return counted, (ORDER_DELETED, "; ".join(f"{f.message_type}: deleted (appType 3)" for f in deleted))
    return counted, None
