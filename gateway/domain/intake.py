"""Order intake: JSON in, a typed ``Order`` out, or every problem at once.

Two passes: the JSON Schema (shape, types, lengths, codes) and then the business rules
(``gateway.domain.rules``). Nothing here stores anything.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources

from decimal import Decimal

from jsonschema import Draft202012Validator, validators

from . import inspection, rules
from .money import to_decimal
from .order import Bonded, Buyer, Consignee, Line, Logistics, Order, Party, Payment, Person
from .problems import OrderInvalid, Problem

CHINA_TZ = timezone(timedelta(hours=8))


@lru_cache(maxsize=1)
def order_json_schema() -> dict:
    return json.loads(resources.files("gateway.domain").joinpath("order.schema.json").read_text("utf-8"))


def _is_strict_integer(checker, instance) -> bool:
    # JSON Schema counts 1.0 as an integer; an order's counts must be real integers.
    return isinstance(instance, int) and not isinstance(instance, bool)


@lru_cache(maxsize=1)
def _validator():
    schema = order_json_schema()
    Draft202012Validator.check_schema(schema)
    checker = Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer)
    return validators.extend(Draft202012Validator, type_checker=checker)(schema)


def _json_path(parts) -> str:
    path = "$"
    for p in parts:
        path += f"[{p}]" if isinstance(p, int) else f".{p}"
    return path


def _schema_problem(err) -> Problem:
    path = _json_path(err.absolute_path)
    rule = f"schema:{err.validator}"
    if err.validator == "required":
        # name the missing field itself
        missing = err.message.split("'")[1] if "'" in err.message else ""
        return Problem(f"{path}.{missing}" if missing else path, rule, f"{missing} is required")
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        field = f"{path}.{extra[0]}" if len(extra) == 1 else path
        return Problem(field, rule, f"unknown field(s) {', '.join(extra)}: not part of the order format")
    if err.validator == "pattern" and err.schema.get("description"):
        return Problem(path, rule, f"{err.instance!r} is not valid: {err.schema['description']}")
    if err.validator == "type" and err.validator_value == "string" and isinstance(err.instance, (int, float, Decimal)):
        return Problem(path, rule, f"{err.instance} must be a string (decimal values are sent as strings, never numbers)")
    return Problem(path, rule, err.message)


def schema_problems(data) -> list[Problem]:
    errors = sorted(_validator().iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    return [_schema_problem(e) for e in errors]


def _dt(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=CHINA_TZ)


def _party(d: dict) -> Party:
    return Party(code=d["code"], name=d["name"])


def _opt_dec(d: dict, key: str):
    return to_decimal(d[key]) if key in d else None


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
            second_quantity=_opt_dec(ln, "second_quantity"), second_unit=ln.get("second_unit"), note=ln.get("note"),
            inspection=inspection.line_inspection(ln.get("inspection")),
        )
        for i, ln in enumerate(data["lines"])
    )
    bonded = data.get("bonded")
    return Order(
        order_no=data["order_no"], regime=data["regime"], direction=data["direction"],
        customs_code=data["customs_code"], port_code=data["port_code"],
        platform=_party(data["platform"]), merchant=_party(data["merchant"]),
        declarant=_party(data["declarant"]), guarantor_code=data["guarantor"]["code"],
        goods_value=to_decimal(data["goods_value"]), discount=to_decimal(data.get("discount", "0")),
        tax_withheld=to_decimal(data.get("tax_withheld", "0")), actual_paid=to_decimal(data["actual_paid"]),
        payment=Payment(
            company=_party(pay["company"]), transaction_no=pay["transaction_no"],
            amount=to_decimal(pay["amount"]), paid_at=_dt(pay["paid_at"]),
            payer=Person(name=payer["name"], id_type=payer["id_type"], id_number=payer["id_number"],
                         telephone=payer.get("telephone")),
        ),
        logistics=Logistics(
            company=_party(lg["company"]), waybill_no=lg["waybill_no"], freight=to_decimal(lg["freight"]),
            insurance=to_decimal(lg["insurance"]), gross_weight=to_decimal(lg["gross_weight"]),
            net_weight=to_decimal(lg["net_weight"]), packages=lg["packages"], transport_mode=lg["transport_mode"],
            conveyance_no=lg.get("conveyance_no"), voyage_no=lg.get("voyage_no"), bill_no=lg.get("bill_no"),
            shipping_country=lg.get("shipping_country"), wrap_type=lg.get("wrap_type"),
            goods_info=lg.get("goods_info"),
        ),
        buyer=Buyer(**data["buyer"]),
        consignee=Consignee(**data["consignee"]),
        lines=lines,
        bonded=Bonded(account_book_no=bonded["account_book_no"], area=_party(bonded["area"])) if bonded else None,
        ordered_at=_dt(data["ordered_at"]) if "ordered_at" in data else None,
        supervision_site=data.get("supervision_site"), license_no=data.get("license_no"),
        batch_numbers=data.get("batch_numbers"), note=data.get("note"),
    )


def _date_problems(data: dict) -> list[Problem]:
    """The schema checks the shape of dates; this checks that they exist (no 31 November)."""
    problems = []
    for path, value in (("$.ordered_at", data.get("ordered_at")),
                        ("$.payment.paid_at", data["payment"].get("paid_at"))):
        if value is None:
            continue
        try:
            _dt(value)
        except ValueError as exc:
            problems.append(Problem(path, "schema:format", f"{value!r} is not a real date and time: {exc}"))
    return problems + inspection.date_problems(data.get("lines"))


def loads(text: str | bytes):
    """Parse JSON text; JSON numbers with a fraction stay exact (Decimal) so the schema can refuse them."""
    try:
        from decimal import Decimal

        return json.loads(text, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise OrderInvalid([Problem("$", "json", f"not valid JSON: {exc}")]) from None


def parse_order(data):
    """Validate and convert one order (a dict, or JSON text). Raises OrderInvalid with every problem.

    The single entry point for every order: one whose ``direction`` is ``"export"`` is handed to
    ``gateway.domain.export_intake.parse_export_order`` (an ``ExportOrder`` comes back); every other
    order is read as an import order (``Order``).
    """
    if isinstance(data, (str, bytes)):
        data = loads(data)
    if not isinstance(data, dict):
        raise OrderInvalid([Problem("$", "schema:type", "an order is a JSON object")])
    if data.get("direction") == "export":
        from .export_intake import parse_export_order  # here: export_intake imports this module

        return parse_export_order(data)
    problems = schema_problems(data) or _date_problems(data)
    if problems:
        raise OrderInvalid(problems)
    order = _build(data)
    problems = rules.check(order) + inspection.problems(order)   # what the goods require (legal inspection)
    if problems:
        raise OrderInvalid(problems)
    return order
