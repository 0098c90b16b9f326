"""The sandbox customs' own reading of the CBEC retail import limits (its own code: nothing from
gateway.domain or gateway.declarations, so the gateway's rules are checked against a second reading
of the regulation, not against themselves; tests/unit/test_sandbox_independence.py keeps it so).

The facts, with their dates (shared/domain/ceb-messages.md §7.4, general-trade-inspection-fx-tax.md §4.4):

- 财关税〔2016〕18号, from 2016-04-08: single transaction ≤ 2,000 CNY, per person per year ≤ 20,000
  CNY; any excess ⇒ general trade (the CBEC channel refuses it).
- 财关税〔2018〕49号, from 2019-01-01: single transaction ≤ 5,000 CNY, per person per year ≤ 26,000 CNY.
  "if the dutiable value of a single order exceeds 5 000 but the annual total stays ≤ 26 000 and the
  order contains only **one** item, it may still enter via the CBEC retail channel, but duty + VAT +
  CT are levied **in full** at goods rates" (ceb-messages.md §7.4, "Above limits"); "A single
  indivisible item above 5,000 but within the annual limit may still go through CBEC at full duty
  and tax" (general-trade-inspection-fx-tax.md §4.4). One item = one piece: one line of quantity 1
  (49号文: 订单下仅一件商品). One line of quantity 2 is two items: refused.
- The value compared is the transaction's dutiable value as the inventory declares it: the lines'
  totals + freight + insured fee (the inventory carries no discount).
- E-port codes: −621005 清单的购买金额超过单笔限额; −621018 …本次购买将超过年度限额 (§4.4).

Before 2016-04-08 there was no CBEC retail import policy: the first period's limits are applied.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

__all__ = ["LIMITS", "Limits", "limits_on", "over_single_limit", "dutiable_value"]


@dataclass(frozen=True)
class Limits:
    since: date
    basis: str
    single: Decimal                 # CNY per transaction (dutiable value)
    annual: Decimal                 # CNY per person per calendar year
    one_item_may_exceed: bool       # one single item over ``single`` passes, taxed in full


LIMITS: tuple[Limits, ...] = (
    Limits(date(2016, 4, 8), "财关税〔2016〕18号", Decimal("2000"), Decimal("20000"), False),
    Limits(date(2019, 1, 1), "财关税〔2018〕49号", Decimal("5000"), Decimal("26000"), True),
)


def limits_on(day: date) -> Limits:
    """The limits in force on ``day`` (the first period's before 2016-04-08)."""
    current = LIMITS[0]
    for limits in LIMITS:
        if limits.since <= day:
            current = limits
    return current


def dutiable_value(line_totals: Sequence[Decimal], freight: Decimal, insured_fee: Decimal) -> Decimal:
    return sum(line_totals, Decimal(0)) + freight + insured_fee


def single_item(quantities: Sequence[Decimal]) -> bool:
    """One piece: one line of quantity 1."""
    return len(quantities) == 1 and quantities[0] == 1


def over_single_limit(value: Decimal, quantities: Sequence[Decimal], day: date) -> str | None:
    """Why customs refuses a transaction of ``value`` CNY with lines of ``quantities`` on ``day``
    (the returnInfo of −621005), or None when the single-transaction limit lets it through
    (within the limit, or one single item over it since 2019, taxed in full)."""
    limits = limits_on(day)
    if value <= limits.single:
        return None
    if limits.one_item_may_exceed and single_item(quantities):
        return None
    pieces = sum(quantities, Decimal(0))
    why = ("只有一件商品的订单可以超过 (only an order of one single item may exceed it)"
           if limits.one_item_may_exceed else "超过即按一般贸易 (any excess is general trade)")
    return (f"清单的购买金额超过单笔限额: {value} > {limits.single} CNY ({limits.basis}, {day.isoformat()}), "
            f"{len(quantities)} 项 {pieces} 件; {why} (purchase exceeds the single-transaction limit)")


def full_tax(value: Decimal, day: date) -> bool:
    """Whether a transaction that passed the single limit is taxed in full (one item over the limit)."""
    return value > limits_on(day).single
