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
from ..common.cbec import head_fields, line_fields, parcel_fields
from ..common.dates import parse_datetime
from ..common.money import to_decimal
from ..common.parties import party
from ..common.schema import OrderSchema, unreal_dates
from ..problems import Problem
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
    lines = tuple(ExportLine(**line_fields(i, ln), item_no=ln["item_no"],
                             final_destination_country=ln.get("final_destination_country"))
                  for i, ln in enumerate(data["lines"]))
    head = head_fields(data)
    summary = data.get("summary")
    if summary is not None or data["statistics_flag"] == SUMMARY:
        summary = summary or {}
        agent = summary.get("declaration_agent")
        summary = Summary(declaration_agent=party(agent) if agent else head["declarant"],
                          by_owner=bool(summary.get("by_owner", False)))
    zone, arrival, departure = data.get("special_zone"), data.get("arrival"), data.get("departure")
    return ExportOrder(
        **head, statistics_flag=data["statistics_flag"], owner=party(data["owner"]), currency=data["currency"],
        payment=ReceivedPayment(
            company=PaymentCompany(name=pay["company"]["name"], code=pay["company"].get("code")),
            amount=to_decimal(pay["amount"]), received_at=parse_datetime(pay["received_at"]),
            transaction_no=pay.get("transaction_no"),
        ),
        logistics=ExportLogistics(
            **parcel_fields(lg), wrap_type=lg["wrap_type"], goods_info=lg["goods_info"],
            destination_country=lg["destination_country"], destination_port=lg["destination_port"],
            conveyance_name=lg.get("conveyance_name"), total_package_no=lg.get("total_package_no"),
            domestic_conveyance_no=lg.get("domestic_conveyance_no"),
        ),
        lines=lines,
        special_zone=SpecialZone(enterprise=party(zone["enterprise"]), account_book_no=zone["account_book_no"])
        if zone else None,
        summary=summary,
        arrival=Arrival(operator=party(arrival["operator"])) if arrival else None,
        departure=Departure(left_at=parse_datetime(departure["left_at"])) if departure else None,
        bill_list=bool(data.get("bill_list", False)),
        export_date=date.fromisoformat(data["export_date"]) if "export_date" in data else None,
    )


def _check(order: ExportOrder) -> list[Problem]:
    return rules.check(order) + inspection.problems(order)   # what the goods require (legal inspection)


def parse_export_order(data) -> ExportOrder:
    """Validate and convert one export order (a dict, or JSON text). Raises OrderInvalid with every problem."""
    return SCHEMA.parse(data, dates=_date_problems, build=_build, check=_check)
