"""CBEC export order intake (9610, 1210/1239 special zone): JSON in, a typed ``ExportOrder`` out, or every
problem at once.

Same two passes as the import intake: the JSON Schema (``order.schema.json`` beside this module: shape,
types, lengths, codes), then the named business rules (``rules``). Nothing here stores anything.
``gateway.domain.parse.parse_order`` hands every order whose ``direction`` is ``"export"`` to
``parse_export_order``.
"""
from __future__ import annotations

from datetime import date

from .. import inspection
from ..common.dates import parse_datetime
from ..common.lines import optional_decimal
from ..common.money import to_decimal
from ..common.parties import party
from ..common.schema import OrderSchema, order_object, unreal_dates
from ..problems import OrderInvalid, Problem
from . import rules
from .order import (
    SUMMARY,
    Arrival,
    Departure,
    ExportLine,
    ExportLogistics,
    ExportOrder,
    PaymentCompany,
    ReceivedPayment,
    SpecialZone,
    Summary,
)

SCHEMA = OrderSchema(__package__)


def _date_problems(data: dict) -> list[Problem]:
    """Dates of the right shape that do not exist (no 31 November)."""
    return unreal_dates((("$.ordered_at", data.get("ordered_at"), parse_datetime),
                         ("$.payment.received_at", data["payment"].get("received_at"), parse_datetime),
                         ("$.departure.left_at", data.get("departure", {}).get("left_at"), parse_datetime),
                         ("$.export_date", data.get("export_date"), date.fromisoformat))
                        ) + inspection.date_problems(data.get("lines"))


def _build(data: dict) -> ExportOrder:
    pay, lg = data["payment"], data["logistics"]
    lines = tuple(
        ExportLine(
            number=i + 1, item_no=ln["item_no"], hs_code=ln["hs_code"], name=ln["name"], spec=ln["spec"],
            quantity=to_decimal(ln["quantity"]), unit=ln["unit"], unit_price=to_decimal(ln["unit_price"]),
            total_price=to_decimal(ln["total_price"]), legal_quantity=to_decimal(ln["legal_quantity"]),
            legal_unit=ln["legal_unit"], item_record_no=ln.get("item_record_no"),
            final_destination_country=ln.get("final_destination_country"),
            description=ln.get("description"), barcode=ln.get("barcode"),
            second_quantity=optional_decimal(ln, "second_quantity"), second_unit=ln.get("second_unit"), note=ln.get("note"),
            inspection=inspection.line_inspection(ln.get("inspection")),
        )
        for i, ln in enumerate(data["lines"])
    )
    declarant = party(data["declarant"])
    summary = data.get("summary")
    if summary is not None or data["statistics_flag"] == SUMMARY:
        summary = summary or {}
        agent = summary.get("declaration_agent")
        summary = Summary(declaration_agent=party(agent) if agent else declarant,
                          by_owner=bool(summary.get("by_owner", False)))
    zone, arrival, departure = data.get("special_zone"), data.get("arrival"), data.get("departure")
    return ExportOrder(
        order_no=data["order_no"], regime=data["regime"], direction=data["direction"],
        customs_code=data["customs_code"], port_code=data["port_code"], statistics_flag=data["statistics_flag"],
        platform=party(data["platform"]), merchant=party(data["merchant"]), owner=party(data["owner"]),
        declarant=declarant, currency=data["currency"],
        goods_value=to_decimal(data["goods_value"]), discount=to_decimal(data.get("discount", "0")),
        payment=ReceivedPayment(
            company=PaymentCompany(name=pay["company"]["name"], code=pay["company"].get("code")),
            amount=to_decimal(pay["amount"]), received_at=parse_datetime(pay["received_at"]),
            transaction_no=pay.get("transaction_no"),
        ),
        logistics=ExportLogistics(
            company=party(lg["company"]), waybill_no=lg["waybill_no"], freight=to_decimal(lg["freight"]),
            insurance=to_decimal(lg["insurance"]), gross_weight=to_decimal(lg["gross_weight"]),
            net_weight=to_decimal(lg["net_weight"]), packages=lg["packages"], transport_mode=lg["transport_mode"],
            wrap_type=lg["wrap_type"], goods_info=lg["goods_info"],
            destination_country=lg["destination_country"], destination_port=lg["destination_port"],
            conveyance_name=lg.get("conveyance_name"), voyage_no=lg.get("voyage_no"), bill_no=lg.get("bill_no"),
            total_package_no=lg.get("total_package_no"), domestic_conveyance_no=lg.get("domestic_conveyance_no"),
        ),
        lines=lines,
        special_zone=SpecialZone(enterprise=party(zone["enterprise"]), account_book_no=zone["account_book_no"])
        if zone else None,
        summary=summary,
        arrival=Arrival(operator=party(arrival["operator"])) if arrival else None,
        departure=Departure(left_at=parse_datetime(departure["left_at"])) if departure else None,
        bill_list=bool(data.get("bill_list", False)),
        ordered_at=parse_datetime(data["ordered_at"]) if "ordered_at" in data else None,
        export_date=date.fromisoformat(data["export_date"]) if "export_date" in data else None,
        supervision_site=data.get("supervision_site"), license_no=data.get("license_no"), note=data.get("note"),
    )


def parse_export_order(data) -> ExportOrder:
    """Validate and convert one export order (a dict, or JSON text). Raises OrderInvalid with every problem."""
    data = order_object(data)
    problems = SCHEMA.problems(data) or _date_problems(data)
    if problems:
        raise OrderInvalid(problems)
    order = _build(data)
    problems = rules.check(order) + inspection.problems(order)   # what the goods require (legal inspection)
    if problems:
        raise OrderInvalid(problems)
    return order
