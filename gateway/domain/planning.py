"""Planning: which filings an order needs, for which agency, in what order.

For the CBEC import regimes (1210 bonded, 9610 direct mail) customs needs four documents; the
inventory goes after its order, payment and waybill (customs matches them: 三单对碰). Inspection,
FX and tax submissions for these regimes are not planned yet (see docs/status.md).
"""
from __future__ import annotations

from dataclasses import dataclass

from .order import Order


@dataclass(frozen=True)
class PlannedFiling:
    message_type: str
    agency: str
    sequence: int          # send order: every filing of a lower sequence goes first


IMPORT_CBEC = (
    PlannedFiling("CEB311Message", "customs", 1),
    PlannedFiling("CEB411Message", "customs", 1),
    PlannedFiling("CEB511Message", "customs", 1),
    PlannedFiling("CEB621Message", "customs", 2),
)


def plan(order: Order) -> tuple[PlannedFiling, ...]:
    if order.direction == "import" and order.regime in ("1210", "9610"):
        return IMPORT_CBEC
    raise ValueError(f"no plan for regime {order.regime} {order.direction}")
