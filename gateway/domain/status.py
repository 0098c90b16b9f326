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

# The state at which a filing of each type is done and good. Order, payment and waybill are
# finished once customs stores them (120); the inventory is what customs releases.
FINAL_GOOD = {
    "CEB311Message": ACCEPTED,
    "CEB411Message": ACCEPTED,
    "CEB511Message": ACCEPTED,
    "CEB621Message": RELEASED,
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
    }.get(code, DECLARED)


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
