"""CBEC import order intake (1210 bonded, 9610 direct mail): JSON in, a typed ``Order`` out, or every
problem at once.

Two passes: the JSON Schema (``order.schema.json`` beside this module: shape, types, lengths, codes)
and then the business rules (``rules``). Nothing here stores anything. Reached through
``gateway.domain.parse.parse_order``, the one entry point for every format.
"""
from __future__ import annotations

from .. import inspection
from ..common.dates import parse_datetime
from ..common.lines import optional_decimal
from ..common.money import to_decimal
from ..common.parties import party
from ..common.schema import OrderSchema, order_object, unreal_dates
from ..problems import OrderInvalid, Problem
from . import rules
from .order import Bonded, Buyer, Consignee, Line, Logistics, Order, Payment, Person

SCHEMA = OrderSchema(__package__)


def order_json_schema() -> dict:
    return SCHEMA.document


def _build(data: dict) -> Order:
    pay, lg = data["payment"], data["logistics"]
    payer = pay["payer"]
    lines = tuple(
        Line(
            number=i + 1,
            hs_code=ln["hs_code"], name=ln["name"], spec=ln["spec"], origin_country=ln["origin_country"],
            quantity=to_decimal(ln["quantity"]), unit=ln["unit"], unit_price=to_decimal(ln["unit_price"]),
            total_price=to_decimal(ln["total_price"]), legal_quantity=to_decimal(ln["legal_quantity"]),
            legal_unit=ln["legal_unit"], item_no=ln.get("item_no"), item_record_no=ln.get("item_record_no"),
            description=ln.get("description"), barcode=ln.get("barcode"), trade_country=ln.get("trade_country"),
            second_quantity=optional_decimal(ln, "second_quantity"), second_unit=ln.get("second_unit"), note=ln.get("note"),
            inspection=inspection.line_inspection(ln.get("inspection")),
        )
        for i, ln in enumerate(data["lines"])
    )
    bonded = data.get("bonded")
    return Order(
        order_no=data["order_no"], regime=data["regime"], direction=data["direction"],
        customs_code=data["customs_code"], port_code=data["port_code"],
        platform=party(data["platform"]), merchant=party(data["merchant"]),
        declarant=party(data["declarant"]), guarantor_code=data["guarantor"]["code"],
        goods_value=to_decimal(data["goods_value"]), discount=to_decimal(data.get("discount", "0")),
        tax_withheld=to_decimal(data.get("tax_withheld", "0")), actual_paid=to_decimal(data["actual_paid"]),
        payment=Payment(
            company=party(pay["company"]), transaction_no=pay["transaction_no"],
            amount=to_decimal(pay["amount"]), paid_at=parse_datetime(pay["paid_at"]),
            payer=Person(name=payer["name"], id_type=payer["id_type"], id_number=payer["id_number"],
                         telephone=payer.get("telephone")),
        ),
        logistics=Logistics(
            company=party(lg["company"]), waybill_no=lg["waybill_no"], freight=to_decimal(lg["freight"]),
            insurance=to_decimal(lg["insurance"]), gross_weight=to_decimal(lg["gross_weight"]),
            net_weight=to_decimal(lg["net_weight"]), packages=lg["packages"], transport_mode=lg["transport_mode"],
            conveyance_no=lg.get("conveyance_no"), voyage_no=lg.get("voyage_no"), bill_no=lg.get("bill_no"),
            shipping_country=lg.get("shipping_country"), wrap_type=lg.get("wrap_type"),
            goods_info=lg.get("goods_info"),
        ),
        buyer=Buyer(**data["buyer"]),
        consignee=Consignee(**data["consignee"]),
        lines=lines,
        bonded=Bonded(account_book_no=bonded["account_book_no"], area=party(bonded["area"])) if bonded else None,
        ordered_at=parse_datetime(data["ordered_at"]) if "ordered_at" in data else None,
        supervision_site=data.get("supervision_site"), license_no=data.get("license_no"),
        batch_numbers=data.get("batch_numbers"), note=data.get("note"),
    )


def _date_problems(data: dict) -> list[Problem]:
    """Dates of the right shape that do not exist (no 31 November)."""
    return unreal_dates((("$.ordered_at", data.get("ordered_at"), parse_datetime),
                         ("$.payment.paid_at", data["payment"].get("paid_at"), parse_datetime)),
                        "date and time") + inspection.date_problems(data.get("lines"))


def parse_import_order(data) -> Order:
    """Validate and convert one CBEC import order (a dict, or JSON text). Raises OrderInvalid with every problem."""
    data = order_object(data)
    problems = SCHEMA.problems(data) or _date_problems(data)
    if problems:
        raise OrderInvalid(problems)
    order = _build(data)
    problems = rules.check(order) + inspection.problems(order)   # what the goods require (legal inspection)
    if problems:
        raise OrderInvalid(problems)
    return order
