"""Business rules checked before any filing is built. Each rule has a stable name.

Pure functions over the typed ``Order``; they return problems, they never raise.
"""
from __future__ import annotations

from ..common.lines import LINE_RULES, goods_value_problems, line_problems, weight_problems
from ..identity import resident_id_problem
from ..problems import Problem
from .order import Order

RULES = {
    "actual-paid": "actual_paid = goods_value + freight + tax_withheld - discount (CEB311 acturalPaid)",
    "goods-value": "goods_value = the sum of the lines' total_price",
    "line-total": LINE_RULES["line-total"],
    "payment-amount": "payment.amount = actual_paid (CEB411 amountPaid = CEB311 acturalPaid)",
    "net-weight": "net_weight <= gross_weight",
    "one-package": "an import parcel is one package (packNo is 1)",
    "bonded-data": "regime 1210 needs bonded.account_book_no, bonded.area and every line's item_record_no",
    "direct-mail-transport": "regime 9610 needs logistics conveyance_no, voyage_no, bill_no and shipping_country",
    "resident-id": "id_type 1 (resident identity card) needs 18 characters with a valid check digit",
    "guarantor": "the guarantor is the declarant, the merchant or the carrier",
    "second-unit": LINE_RULES["second-unit"],
    "legal-quantity": LINE_RULES["legal-quantity"],
    "payer-is-buyer": "the payer is the buyer (same ID type and number)",
}


def check(order: Order) -> list[Problem]:
    problems: list[Problem] = []
    add = problems.append

    # Amounts
    lg = order.logistics
    expected_paid = order.goods_value + lg.freight + order.tax_withheld - order.discount
    if order.actual_paid != expected_paid:
        add(Problem("$.actual_paid", "actual-paid",
                    f"{order.actual_paid} != goods_value {order.goods_value} + freight {lg.freight} + "
                    f"tax_withheld {order.tax_withheld} - discount {order.discount} = {expected_paid}"))
    problems += goods_value_problems(order.goods_value, order.lines)
    for i, line in enumerate(order.lines):
        problems += line_problems(f"$.lines[{i}]", line)
    if order.payment.amount != order.actual_paid:
        add(Problem("$.payment.amount", "payment-amount",
                    f"{order.payment.amount} != actual_paid {order.actual_paid}"))

    # Parcel
    problems += weight_problems("$.logistics.net_weight", lg.net_weight, lg.gross_weight)
    if lg.packages != 1:
        add(Problem("$.logistics.packages", "one-package",
                    f"an import parcel is declared as 1 package, got {lg.packages}"))

    # Regime-specific data (ceb-messages.md §7.5)
    if order.regime == "1210":
        if order.bonded is None:
            add(Problem("$.bonded", "bonded-data", "regime 1210 needs the bonded account book and area"))
        for i, line in enumerate(order.lines):
            if not line.item_record_no:
                add(Problem(f"$.lines[{i}].item_record_no", "bonded-data",
                            "regime 1210 needs the account-book item record number of every line"))
    elif order.regime == "9610":
        for field in ("conveyance_no", "voyage_no", "bill_no", "shipping_country"):
            if not getattr(lg, field):
                add(Problem(f"$.logistics.{field}", "direct-mail-transport",
                            f"regime 9610 needs logistics.{field}"))

    # People
    for path, person in (("$.buyer", order.buyer), ("$.payment.payer", order.payment.payer)):
        if person.id_type == "1":
            reason = resident_id_problem(person.id_number)
            if reason:
                add(Problem(f"{path}.id_number", "resident-id", reason))
    payer = order.payment.payer
    if (payer.id_type, payer.id_number) != (order.buyer.id_type, order.buyer.id_number):
        add(Problem("$.payment.payer.id_number", "payer-is-buyer",
                    "the payer's identity differs from the buyer's; customs refuses payments by another person"))

    allowed = {order.declarant.code, order.merchant.code, lg.company.code}
    if order.guarantor_code not in allowed:
        add(Problem("$.guarantor.code", "guarantor",
                    f"{order.guarantor_code} is none of declarant, merchant or carrier ({', '.join(sorted(allowed))})"))
    return problems
