"""Filing states and the order's combined status.

A filing moves through states driven by government receipts (returnStatus codes, ceb-messages.md
§4.2). A receipt is applied only if it moves the filing forward. The order's combined status is
"released" only when every filing has reached its agency's final good state (一次放行).
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

RANK = {PENDING: 0, SENT: 1, DECLARED: 2, ACCEPTED: 3, REVIEW: 4, CONCLUDED: 5, RELEASED: 6,
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
}


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
    returnStatus codes, or for general trade DecImportResponse ResponseCode and DEC_RESULT CHANNEL."""
    code = code.strip()
    if receipt_type == "CEB792Message":
        # the summary result carries decState (codes set by customs, not returnStatus): it follows
        # the concluded summary application and never moves it anywhere else
        return CONCLUDED
    if receipt_type == "DecImportResponse":
        return DECLARED if code == DEC_RESPONSE_ACCEPTED else REJECTED
    if receipt_type == "DEC_RESULT":
        return DEC_CHANNEL_STATES.get(code, DECLARED)
    return state_for_code(code)


def moves_forward(current: str, new: str) -> bool:
    """Whether a receipt that maps to ``new`` should change a filing now in ``current``: only to a
    state of higher rank; rejected and returned are final."""
    if current in (REJECTED, RETURNED):
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


@dataclass(frozen=True)
class FilingView:
    message_type: str
    agency: str
    state: str
    reason: str | None = None


def combined_status(filings: list[FilingView]) -> tuple[str, str | None]:
    """(status, reason). Rejected if any filing was rejected (with every reason), released when all
    are done, otherwise in progress."""
    if not filings:
        return RECEIVED, None
    rejected = [f for f in filings if f.state in (REJECTED, RETURNED)]
    if rejected:
        reasons = "; ".join(f"{f.message_type}: {f.reason or f.state}" for f in rejected)
        return ORDER_REJECTED, reasons
    if all(is_done(f.message_type, f.state) for f in filings):
        return ORDER_RELEASED, None
    return IN_PROGRESS, None


def per_agency(filings: list[FilingView]) -> dict[str, str]:
    """The status of each agency: same rule as the combined status, per agency."""
    by: dict[str, list[FilingView]] = {}
    for f in filings:
        by.setdefault(f.agency, []).append(f)
    return {agency: combined_status(fs)[0] for agency, fs in sorted(by.items())}
