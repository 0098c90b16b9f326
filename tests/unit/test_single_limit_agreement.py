"""The gateway and the sandbox read the single-transaction limit the same way (issue 11): one table of
cases, checked against each side's own code (the gateway: gateway.domain.tax.cbec; the sandbox:
gateway/adapters/sandbox/policy.py through its customs checks, which import nothing of the gateway's).

The rule (shared/domain/ceb-messages.md §7.4; general-trade-inspection-fx-tax.md §4.4): from 2016-04-08
2,000 CNY a transaction, any excess refused; from 2019-01-01 5,000 CNY, but an order of ONE item
(one line of quantity 1) over it still passes, taxed in full. The value compared is the dutiable
value: the lines' totals + freight + insurance."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from gateway.adapters.sandbox.documents import Filing
from gateway.adapters.sandbox.rules import Registry, judge
from gateway.domain.tax import cbec

HS = "4202210090"    # handbags, on the CBEC list, no consumption tax; rows since 2018-01-01
AFTER, BEFORE = date(2026, 11, 27), date(2018, 12, 31)

# (case, day, lines as (quantity, line total), freight, passes)
CASES = [
    ("one line qty 1 over the limit", AFTER, [("1", "6000.00")], "0", True),
    ("one line qty 1 just over the limit", AFTER, [("1", "5000.01")], "0", True),
    ("one line qty 2 over the limit", AFTER, [("2", "5200.00")], "0", False),
    ("one line qty 2 over the limit by its freight", AFTER, [("2", "4980.00")], "30.00", False),
    ("two lines over the limit", AFTER, [("1", "4280.00"), ("1", "936.00")], "95.00", False),
    ("two lines exactly at the limit", AFTER, [("1", "2500.00"), ("1", "2500.00")], "0", True),
    ("one line qty 3 exactly at the limit", AFTER, [("3", "4990.00")], "10.00", True),
    ("two lines just over the limit", AFTER, [("1", "2500.00"), ("1", "2500.01")], "0", False),
    ("2019-01-01: one line qty 1 over 5,000", date(2019, 1, 1), [("1", "6000.00")], "0", True),
    ("2019-01-01: two lines at 3,000 (under 5,000)", date(2019, 1, 1), [("1", "1500.00"), ("1", "1500.00")], "0", True),
    ("2018: two lines at 3,000 (over 2,000)", BEFORE, [("1", "1500.00"), ("1", "1500.00")], "0", False),
    ("2018: one line qty 1 over 2,000 (no one-item exception yet)", BEFORE, [("1", "2000.01")], "0", False),
    ("2018: exactly at 2,000", BEFORE, [("2", "1990.00")], "10.00", True),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(("case", "day", "lines", "freight", "passes"), CASES, ids=IDS)
def test_the_gateway_applies_the_single_limit_as_the_regulation(case, day, lines, freight, passes):
    items = [cbec.CbecItem(n, HS, D(total), D(qty), "007", D(qty), "007")
             for n, (qty, total) in enumerate(lines, 1)]
    try:
        q = cbec.quote_items(items, freight=D(freight), on=day)
    except cbec.CbecRefused as exc:
        assert exc.limit == "single" and not passes, f"{case}: refused: {exc}"
        return
    assert passes, f"{case}: the gateway let it through ({q.mode})"
    over = sum((D(t) for _, t in lines), D(0)) + D(freight) > q.ruleset.cbec_single_limit
    assert q.mode == (cbec.SINGLE_ITEM_FULL if over else cbec.WITHIN)


@pytest.mark.parametrize(("case", "day", "lines", "freight", "passes"), CASES, ids=IDS)
def test_the_sandbox_applies_the_single_limit_as_the_regulation(case, day, lines, freight, passes):
    inventory = Filing("CEB621Message", "m1", {
        "orderNo": "O1", "ebpCode": "E", "copNo": "C1", "appType": "1", "freight": freight, "insuredFee": "0",
        "declTime": f"{day:%Y%m%d}"}, [{"gnum": str(n), "gcode": HS, "qty": qty, "totalPrice": total}
                                       for n, (qty, total) in enumerate(lines, 1)])
    verdict = judge(inventory, Registry())
    refused = verdict is not None and verdict.status == "-621005"
    assert refused != passes, f"{case}: {verdict}"
    # the other checks still run when the limit passes (here: no order, payment, waybill)
    assert refused or (verdict is not None and verdict.status == "100")


def test_the_sandbox_takes_the_day_of_the_payment_when_it_has_one():
    registry = Registry()
    registry.register(Filing("CEB411Message", "m0", {"orderNo": "O1", "ebpCode": "E", "payCode": "P",
                                                      "payTransactionId": "T", "payTime": "20181231120000"}))
    inventory = Filing("CEB621Message", "m1", {
        "orderNo": "O1", "ebpCode": "E", "copNo": "C1", "appType": "1", "freight": "0", "insuredFee": "0",
        "declTime": "20190102090000"}, [{"gnum": "1", "gcode": HS, "qty": "1", "totalPrice": "3000.00"}])
    verdict = judge(inventory, registry)       # paid in 2018: 2,000 and no one-item exception
    assert verdict is not None and verdict.status == "-621005" and "财关税〔2016〕18号" in verdict.reason
