"""CBEC import order intake (1210 bonded, 9610 direct mail): JSON in, a typed ``Order`` out, or every
problem at once.

Two passes: the JSON Schema (``order.schema.json`` beside this module: shape, types, lengths, codes)
and then the business rules (``rules``). Nothing here stores anything. Reached through
``gateway.domain.parse.parse_order``, the one entry point for every format.
"""
from __future__ import annotations

from .. import inspection
from ..common.cbec import head_fields, line_fields, parcel_fields
from ..common.dates import parse_datetime
from ..common.money import to_decimal
from ..common.parties import party
from ..common.schema import OrderSchema, unreal_dates
from ..problems import Problem
from . import rules
from .order import Bonded, Buyer, Consignee, Line, Logistics, Order, Payment, Person

SCHEMA = OrderSchema(__package__)


def order_json_schema() -> dict:
    return SCHEMA.document


def _build(data: dict) -> Order:
    pay, lg = data["payment"], data["logistics"]
    payer = pay["payer"]
    lines = tuple(Line(**line_fields(i, ln), origin_country=ln["origin_country"], item_no=ln.get("item_no"),
                       trade_country=ln.get("trade_country"))
                  for i, ln in enumerate(data["lines"]))
    bonded = data.get("bonded")
    return Order(
        **head_fields(data), guarantor_code=data["guarantor"]["code"],
        tax_withheld=to_decimal(data.get("tax_withheld", "0")), actual_paid=to_decimal(data["actual_paid"]),
        payment=Payment(
            company=party(pay["company"]), transaction_no=pay["transaction_no"],
            amount=to_decimal(pay["amount"]), paid_at=parse_datetime(pay["paid_at"]),
            payer=Person(name=payer["name"], id_type=payer["id_type"], id_number=payer["id_number"],
                         telephone=payer.get("telephone")),
        ),
        logistics=Logistics(**parcel_fields(lg), conveyance_no=lg.get("conveyance_no"),
                            shipping_country=lg.get("shipping_country"), wrap_type=lg.get("wrap_type"),
                            goods_info=lg.get("goods_info")),
        buyer=Buyer(**data["buyer"]),
        consignee=Consignee(**data["consignee"]),
        lines=lines,
        bonded=Bonded(account_book_no=bonded["account_book_no"], area=party(bonded["area"])) if bonded else None,
        batch_numbers=data.get("batch_numbers"),
    )


def _date_problems(data: dict) -> list[Problem]:
    """Dates of the right shape that do not exist (no 31 November)."""
    return unreal_dates((("$.ordered_at", data.get("ordered_at"), parse_datetime),
                         ("$.payment.paid_at", data["payment"].get("paid_at"), parse_datetime)),
                        "date and time") + inspection.date_problems(data.get("lines"))


def _check(order: Order) -> list[Problem]:
    return rules.check(order) + inspection.problems(order)   # what the goods require (legal inspection)


def parse_import_order(data) -> Order:
    """Validate and convert one CBEC import order (a dict, or JSON text). Raises OrderInvalid with every problem."""
    return SCHEMA.parse(data, dates=_date_problems, build=_build, check=_check)
