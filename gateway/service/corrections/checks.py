"""Checks of a correction's input: the corrected order keeps the order's numbers, a reason is given,
an export return's shipment is complete."""
from __future__ import annotations

from lxml import etree

from gateway.declarations.builders import business_key
from gateway.declarations.ceb_reversals import ReturnShipment
from gateway.declarations.common import FilingContext
from gateway.domain.common.parties import Party
from gateway.domain.parse import order_number
from gateway.domain.problems import Problem
from gateway.store import models as m

from .results import CorrectionInvalid


def _same_order(order: m.Order, base, new) -> None:
    problems = []
    if order_number(new) != (order.platform_code, order.order_no):
        problems.append(Problem("$.order_no", "modify-same-order",
                                f"a correction keeps the order's number and platform ({order.platform_code} "
                                f"{order.order_no}); got {order_number(new)[0]} {order_number(new)[1]}"))
    for name in ("direction", "regime"):
        if getattr(new, name) != getattr(base, name):
            problems.append(Problem(f"$.{name}", "modify-same-order",
                                    f"a correction keeps the order's {name} ({getattr(base, name)})"))
    if problems:
        raise CorrectionInvalid(problems)


_KEY_PATHS = {"CEB311Message": "$.merchant.code", "CEB303Message": "$.merchant.code",
              "CEB411Message": "$.payment.transaction_no", "CEB403Message": "$.merchant.code",
              "CEB511Message": "$.logistics.waybill_no", "CEB505Message": "$.logistics.waybill_no"}


def _keeps_numbers(changed: list[str], base, new, ctx: FilingContext) -> None:
    problems = []
    for mt in changed:
        old_key, new_key = business_key(mt, base, ctx), business_key(mt, new, ctx)
        if old_key != new_key:
            problems.append(Problem(_KEY_PATHS.get(mt, "$"), "modify-keeps-numbers",
                                    f"{mt} would name another document ({new_key} instead of {old_key}): a "
                                    "modification keeps the document's numbers"))
    if problems:
        raise CorrectionInvalid(problems)


def _content(root) -> bytes:
    return etree.tostring(root, method="c14n")


def _reason(reason, limit: int, rule: str, what: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise CorrectionInvalid([Problem("$.reason", rule, what)])
    reason = reason.strip()
    if len(reason) > limit:
        raise CorrectionInvalid([Problem("$.reason", rule, f"the reason has {len(reason)} characters, at most {limit}")])
    return reason


_SHIPMENT_FIELDS = {"conveyance_name": 100, "voyage_no": 32, "bill_no": 37, "waybill_no": 80, "transport_mode": 1,
                    "port_code": 4, "country": 3, "supervision_site": 10, "logistics": None}


def _shipment(order, given, problems: list[Problem]) -> ReturnShipment | None:
    """The export return trip: what ``given`` says, the order's logistics for the rest."""
    given = {} if given is None else given
    if not isinstance(given, dict):
        problems.append(Problem("$.shipment", "return-shipment", "shipment is an object"))
        return None
    for name in sorted(set(given) - set(_SHIPMENT_FIELDS)):
        problems.append(Problem(f"$.shipment.{name}", "return-shipment", "unknown field"))
    lg = order.logistics
    company = given.get("logistics")
    if company is not None and not (isinstance(company, dict) and isinstance(company.get("code"), str)
                                    and isinstance(company.get("name"), str) and company["code"] and company["name"]
                                    and len(company["code"]) <= 18 and len(company["name"]) <= 100):
        problems.append(Problem("$.shipment.logistics", "return-shipment",
                                "logistics is {code (1..18), name (1..100)} of the carrier bringing the goods back"))
        company = None
    values = {
        "conveyance_name": given.get("conveyance_name", lg.conveyance_name),
        "voyage_no": given.get("voyage_no", lg.voyage_no),
        "waybill_no": given.get("waybill_no", lg.waybill_no),
        "transport_mode": given.get("transport_mode", lg.transport_mode),
        "port_code": given.get("port_code", order.port_code),
        "country": given.get("country", lg.destination_country),
        "supervision_site": given.get("supervision_site", order.supervision_site),
    }
    values["bill_no"] = given.get("bill_no", lg.bill_no or values["waybill_no"])
    for name, value in values.items():
        limit = _SHIPMENT_FIELDS[name]
        assert limit is not None    # only "logistics" has none, and it is not among the values
        if value is None and name == "supervision_site":
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(f"$.shipment.{name}", "return-shipment",
                                    f"{name} is required for the return trip (CEB213) and the order has none"))
        elif len(value) > limit or (name in ("transport_mode", "port_code", "country") and len(value) != limit):
            problems.append(Problem(f"$.shipment.{name}", "return-shipment",
                                    f"{name} {value!r} must have {'exactly' if name in ('transport_mode', 'port_code', 'country') else 'at most'} "
                                    f"{limit} characters"))
    if values["country"] == "142":
        problems.append(Problem("$.shipment.country", "return-shipment",
                                "the goods come back from abroad: 启运国 is not China (142)"))
    if problems:
        return None
    carrier = Party(company["code"], company["name"]) if company else Party(lg.company.code, lg.company.name)
    return ReturnShipment(carrier, values["waybill_no"], values["bill_no"], values["transport_mode"],
                          values["conveyance_name"], values["voyage_no"], values["port_code"], values["country"],
                          values["supervision_site"])
