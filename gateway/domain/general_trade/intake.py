"""General-trade intake (regime 0110): JSON in, a typed ``GtOrder`` out, or every problem at once.

Passes: the JSON Schema (``order.schema.json`` beside this module: shape, types, lengths, code formats), then real
dates, then codes (currencies and countries known on the declaration date, turned into ISO letters)
and the business rules (``rules``), reported together. Nothing here stores anything. Reached through
``gateway.domain.parse.parse_order`` for every order of regime 0110.
"""
from __future__ import annotations

from datetime import date, datetime

from ..common.dates import china_date, today_in_china
from ..common.lines import optional_decimal
from ..common.money import to_decimal
from ..common.schema import OrderSchema, order_object, unreal_dates
from ..problems import OrderInvalid, Problem
from . import rules
from .order import (
    Attachment,
    Charge,
    Container,
    Dangerous,
    Document,
    Enterprise,
    GtLine,
    GtOrder,
    Inspection,
    Operator,
    OtherPack,
    OverseasParty,
    PriceDeclaration,
    RequestedCertificate,
    Transport,
)

SCHEMA = OrderSchema(__package__)


def _dates(data: dict):
    """(JSON path, value) of every date in the order."""
    if "ie_date" in data:
        yield "$.ie_date", data["ie_date"]
    if "departure_date" in data.get("transport", {}):
        yield "$.transport.departure_date", data["transport"]["departure_date"]
    for i, line in enumerate(data.get("lines", [])):
        ciq = line.get("inspection", {})
        for j, value in enumerate(ciq.get("production_dates", [])):
            yield f"$.lines[{i}].inspection.production_dates[{j}]", value
        if "valid_until" in ciq:
            yield f"$.lines[{i}].inspection.valid_until", ciq["valid_until"]


def _date_problems(data: dict) -> list[Problem]:
    return unreal_dates((path, value, date.fromisoformat) for path, value in _dates(data))


def _opt_date(d: dict, key: str):
    return date.fromisoformat(d[key]) if key in d else None


def _enterprise(d: dict) -> Enterprise:
    return Enterprise(name=d["name"], scc=d.get("scc"), code=d.get("code"), ciq_code=d.get("ciq_code"))


def _charge(d: dict | None, currency: str) -> Charge | None:
    if d is None:
        return None
    # per-unit and total amounts are in the order's currency unless they say otherwise; a rate has none
    default = None if d["mark"] == "rate" else currency
    return Charge(mark=d["mark"], value=to_decimal(d["value"]), currency=d.get("currency", default))


def _document(d: dict) -> Document:
    return Document(code=d["code"], number=d["number"])


def _inspection(d: dict | None) -> Inspection | None:
    if d is None:
        return None
    dangerous = d.get("dangerous")
    return Inspection(
        goods_attributes=tuple(d.get("goods_attributes", ())), purpose=d.get("purpose"),
        origin_region=d.get("origin_region"), english_name=d.get("english_name"), goods_spec=d.get("goods_spec"),
        goods_model=d.get("goods_model"), brand=d.get("brand"),
        production_dates=tuple(date.fromisoformat(v) for v in d.get("production_dates", ())),
        batch_no=d.get("batch_no"), valid_until=_opt_date(d, "valid_until"), shelf_life=d.get("shelf_life"),
        ingredients=d.get("ingredients"), manufacturer=d.get("manufacturer"),
        producer_registration_no=d.get("producer_registration_no"),
        producer_registration_name=d.get("producer_registration_name"),
        dangerous=Dangerous(un_code=dangerous["un_code"], name=dangerous["name"], pack_type=dangerous.get("pack_type"),
                            pack_spec=dangerous.get("pack_spec")) if dangerous else None,
        not_dangerous=d.get("not_dangerous"),
    )


def _line(i: int, ln: dict, currency: str) -> GtLine:
    return GtLine(
        number=i + 1, hs_code=ln["hs_code"], name=ln["name"], spec_elements=tuple(ln["spec_elements"]),
        quantity=to_decimal(ln["quantity"]), unit=ln["unit"],
        legal_quantity=to_decimal(ln["legal_quantity"]), legal_unit=ln["legal_unit"],
        unit_price=to_decimal(ln["unit_price"]), total_price=to_decimal(ln["total_price"]),
        currency=ln.get("currency", currency), origin_country=ln["origin_country"],
        destination_country=ln["destination_country"], duty_mode=ln.get("duty_mode", "1"),
        district=ln["district"], ciq_code=ln.get("ciq_code"), ciq_name=ln.get("ciq_name"),
        second_quantity=optional_decimal(ln, "second_quantity"), second_unit=ln.get("second_unit"),
        destination_code=ln.get("destination_code"),
        regulatory_conditions=ln.get("regulatory_conditions", ""),
        inspection_categories=ln.get("inspection_categories", ""),
        inspection=_inspection(ln.get("inspection")),
        product_licences=tuple(_document(d) for d in ln.get("product_licences", ())),
    )


def _build(data: dict) -> GtOrder:
    currency = data["currency"]
    tr = data["transport"]
    op = data["operator"]
    overseas = data.get("overseas_party")
    return GtOrder(
        client_ref=data["client_ref"], regime=data["regime"], direction=data["direction"],
        declaration_office=data["declaration_office"], port_office=data["port_office"],
        entry_port=data["entry_port"], goods_place=data["goods_place"],
        trader=_enterprise(data["trader"]), owner=_enterprise(data["owner"]),
        declarant=_enterprise(data["declarant"]),
        operator=Operator(name=op["name"], ic_card=op["ic_card"], certificate=op.get("certificate")),
        transport=Transport(mode=tr["mode"], departure_port=tr["departure_port"],
                            destination_port=tr["destination_port"], conveyance=tr.get("conveyance"),
                            voyage_no=tr.get("voyage_no"), bill_no=tr.get("bill_no"),
                            departure_date=_opt_date(tr, "departure_date")),
        trade_country=data["trade_country"], shipping_country=data["shipping_country"],
        terms=data["terms"], currency=currency, packages=data["packages"], wrap_type=data["wrap_type"],
        gross_weight=to_decimal(data["gross_weight"]), net_weight=to_decimal(data["net_weight"]),
        lines=tuple(_line(i, ln, currency) for i, ln in enumerate(data["lines"])),
        price_declaration=PriceDeclaration(**data.get("price_declaration", {})),
        freight=_charge(data.get("freight"), currency), insurance=_charge(data.get("insurance"), currency),
        other_charges=_charge(data.get("other_charges"), currency),
        overseas_party=OverseasParty(name=overseas["name"], code=overseas.get("code"),
                                     address=overseas.get("address")) if overseas else None,
        destination_office=data.get("destination_office"), ie_date=_opt_date(data, "ie_date"),
        levy_nature=data.get("levy_nature"), contract_no=data.get("contract_no"),
        license_no=data.get("license_no"), marks=data.get("marks"), note=data.get("note"),
        other_packs=tuple(OtherPack(wrap_type=p["wrap_type"], quantity=p["quantity"])
                          for p in data.get("other_packs", ())),
        licence_documents=tuple(_document(d) for d in data.get("licence_documents", ())),
        qualifications=tuple(_document(d) for d in data.get("qualifications", ())),
        containers=tuple(Container(number=c["number"], size_type=c["size_type"], lines=tuple(c["lines"]),
                                   lcl=c.get("lcl", False), goods_weight=optional_decimal(c, "goods_weight"),
                                   tare_weight=optional_decimal(c, "tare_weight"))
                         for c in data.get("containers", ())),
        requested_certificates=tuple(RequestedCertificate(code=r["code"], originals=r.get("originals", 1),
                                                          copies=r.get("copies", 0))
                                     for r in data.get("requested_certificates", ())),
        attachments=tuple(Attachment(code=a["code"], file_id=a["file_id"], format=a.get("format", "US"),
                                     lines=tuple(a.get("lines", ())))
                          for a in data.get("attachments", ())),
    )


def parse_gt_order(data, *, on: date | datetime | None = None) -> GtOrder:
    """Validate and convert one general-trade order (a dict, or JSON text). Raises OrderInvalid with
    every problem. ``on``: the declaration date, for the code tables (the service passes its clock's
    date; default: the order's ie_date, else today in China)."""
    data = order_object(data)
    problems = SCHEMA.problems(data) or _date_problems(data)
    if problems:
        raise OrderInvalid(problems)
    if on is None:
        on = date.fromisoformat(data["ie_date"]) if "ie_date" in data else today_in_china()
    on = china_date(on)
    data, problems = rules.normalise_codes(data, on)
    order = _build(data)
    problems += rules.check(order)
    if problems:
        raise OrderInvalid(problems)
    return order
