"""Business rules checked before any filing is built. Each rule has a stable name.

Pure functions over the typed ``Order``; they return problems, they never raise.
"""
from __future__ import annotations

from decimal import Decimal

from .identity import resident_id_problem
from .money import round_fen
from .order import Order
from .problems import Problem

RULES = {
    "actual-paid": "actual_paid = goods_value + freight + tax_withheld - discount (CEB311 acturalPaid)",
    "goods-value": "goods_value = the sum of the lines' total_price",
    "line-total": "a line's total_price = unit_price x quantity (exact, or rounded to the fen)",
    "payment-amount": "payment.amount = actual_paid (CEB411 amountPaid = CEB311 acturalPaid)",
    "net-weight": "net_weight <= gross_weight",
    "one-package": "an import parcel is one package (packNo is 1)",
    "bonded-data": "regime 1210 needs bonded.account_book_no, bonded.area and every line's item_record_no",
    "direct-mail-transport": "regime 9610 needs logistics conveyance_no, voyage_no, bill_no and shipping_country",
    "resident-id": "id_type 1 (resident identity card) needs 18 characters with a valid check digit",
    "guarantor": "the guarantor is the declarant, the merchant or the carrier",
    "second-unit": "second_quantity and second_unit come together, and the quantity is positive",
    "legal-quantity": "legal_quantity is positive",
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
    line_sum = sum((line.total_price for line in order.lines), Decimal(0))
    if line_sum != order.goods_value:
        add(Problem("$.goods_value", "goods-value",
                    f"{order.goods_value} != sum of line totals {line_sum}"))
    for i, line in enumerate(order.lines):
        product = line.unit_price * line.quantity
        if line.total_price != product and line.total_price != round_fen(product):
            add(Problem(f"$.lines[{i}].total_price", "line-total",
                        f"{line.total_price} != unit_price {line.unit_price} x quantity {line.quantity} = {product}"))
        if line.legal_quantity <= 0:
            add(Problem(f"$.lines[{i}].legal_quantity", "legal-quantity", "must be greater than 0"))
        if (line.second_quantity is None) != (line.second_unit is None):
            missing = "second_unit" if line.second_unit is None else "second_quantity"
            add(Problem(f"$.lines[{i}].{missing}", "second-unit",
                        "second_quantity and second_unit must be given together"))
        elif line.second_quantity is not None and line.second_quantity <= 0:
            add(Problem(f"$.lines[{i}].second_quantity", "second-unit", "must be greater than 0"))
    if order.payment.amount != order.actual_paid:
        add(Problem("$.payment.amount", "payment-amount",
                    f"{order.payment.amount} != actual_paid {order.actual_paid}"))

    # Parcel
    if lg.net_weight > lg.gross_weight:
        add(Problem("$.logistics.net_weight", "net-weight",
                    f"net weight {lg.net_weight} kg exceeds gross weight {lg.gross_weight} kg"))
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
