"""Legal inspection (gateway.domain.inspection): the decision per line from the reference HS data, what
the goods require, the order's optional ``lines[i].inspection`` object, and the inspection record
(gateway.declarations.inspection_record + our XSD) the sandbox's inspection desk checks again."""
from __future__ import annotations

import copy
import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from gateway import schemas, signing
from gateway.adapters.sandbox.agency_desk import _inspection_check
from gateway.declarations.inspection_record import INSPECTION_NS, build_inspection_record
from gateway.domain import inspection
from gateway.domain.parse import parse_order
from gateway.domain.problems import OrderInvalid
from gateway.reference.hs import hs_line

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "orders"
GUID = "0F1E2D3C-4B5A-4697-8877-665544332211"


def load(name: str, folder: str = "valid") -> dict:
    return json.loads((FIXTURES / folder / name).read_text("utf-8"))


def refused(data) -> list[tuple[str, str]]:
    with pytest.raises(OrderInvalid) as caught:
        parse_order(data)
    return [(p.path, p.rule) for p in caught.value.problems]


# -- the decision ----------------------------------------------------------------------------------

def test_decision_per_line_from_the_reference_data():
    d = inspection.decide(parse_order(load("1210-six-lines.json")))
    assert d.direction == "import" and d.decided_on == date(2026, 11, 23)     # the order's own date
    got = [(x.number, x.hs_code, x.legal_inspection, x.categories, x.requirements) for x in d.lines]
    assert got == [
        (1, "2106909090", True, ("R",), ("food",)),                    # 监管条件 AB, 检验检疫类别 R/S
        (2, "0802620000", True, ("P", "R"), ("quarantine", "food")),   # P.R/Q.S
        (3, "8509800000", True, ("L", "M"), ("ccc", "commodity")),     # A, L.M/
        (4, "9503008900", False, (), ()),                              # toys: no 监管条件
        (5, "6110200090", False, (), ()),
        (6, "4202210090", False, (), ()),
    ]
    assert d.inspected and [x.number for x in d.inspected_lines] == [1, 2, 3] and d.warnings == ()


def test_export_uses_condition_b_and_the_export_categories():
    d = inspection.decide(parse_order(load("9610-summary-sea-germany.json", "export/valid")))
    assert [(x.legal_inspection, x.categories, x.requirements) for x in d.lines] == [
        (True, ("S",), ("food",)), (True, ("S",), ("food",))]        # AB, R/S: S on export
    apparel = inspection.decide(parse_order(load("9610-simplified-air-usa.json", "export/valid")))
    assert not apparel.inspected                                     # headphones: no 监管条件


def test_a_line_with_condition_a_only_is_not_inspected_on_export():
    # 8509800000 has 监管条件 "A": legal inspection on import, none on export
    line = hs_line("8509800000", on=date(2026, 11, 20))
    assert line.import_inspection and not line.export_inspection


def test_unknown_hs_code_is_a_warning_not_a_decision_nor_a_refusal():
    data = load("1210-single-line.json")
    data["lines"][0]["hs_code"] = "0902109000"          # green tea: not in our reference data
    order = parse_order(data)                           # accepted
    d = inspection.decide(order)
    assert [(x.known, x.legal_inspection) for x in d.lines] == [(False, None)]
    assert [(w.path, w.rule) for w in d.warnings] == [("$.lines[0].hs_code", "inspection-unknown-hs")]
    assert not d.inspected and inspection.problems(order) == []


def test_general_trade_decision_comes_from_the_lines_and_gt_rules_check_the_data():
    order = parse_order(load("gt-import-wine.json", "general/valid"), on=date(2026, 11, 20))
    d = inspection.decide(order, on=date(2026, 11, 20))
    assert [(x.legal_inspection, x.requirements) for x in d.lines] == [(True, ("food",)), (True, ("food",))]
    assert inspection.problems(order) == []             # its CIQ fields are gt_rules' business


# -- what the goods require ------------------------------------------------------------------------

def test_every_valid_fixture_carries_what_its_goods_require():
    for folder in ("valid", "export/valid"):
        for path in sorted((FIXTURES / folder).glob("*.json")):
            assert inspection.problems(parse_order(json.loads(path.read_text("utf-8")))) == [], path.name


def test_missing_food_data_is_named_by_line_and_field():
    data = load("9610-sea-australia.json")
    del data["lines"][2]["inspection"]["producer_registration"]      # macadamia nuts: P.R
    assert refused(data) == [("$.lines[2].inspection.producer_registration", "inspection-food")]


def test_a_line_without_any_inspection_data_gets_every_problem_at_once():
    data = load("1210-six-lines.json")
    for line in data["lines"][:3]:
        del line["inspection"]
    assert refused(data) == [
        ("$.lines[0].inspection.producer_registration", "inspection-food"),
        ("$.lines[0].inspection.batch_no", "inspection-food"),
        ("$.lines[0].inspection.production_date", "inspection-food"),
        ("$.lines[1].inspection.producer_registration", "inspection-food"),
        ("$.lines[1].inspection.batch_no", "inspection-food"),
        ("$.lines[1].inspection.production_date", "inspection-food"),
        ("$.lines[1].inspection.quarantine_permit_no", "inspection-quarantine"),
        ("$.lines[1].inspection.origin_region", "inspection-quarantine"),
        ("$.lines[1].inspection.purpose", "inspection-quarantine"),
        ("$.lines[2].inspection.ccc_certificate", "inspection-ccc"),
    ]


def test_ccc_exemption_certificate_is_enough_for_category_l():
    data = load("9610-air-germany-x-id.json")
    data["lines"][0]["inspection"] = {"licence_no": "CCCMY2026000117"}     # 免于办理CCC认证证明 (410)
    assert parse_order(data).lines[0].inspection.licence_no == "CCCMY2026000117"
    del data["lines"][0]["inspection"]
    assert refused(data) == [("$.lines[0].inspection.ccc_certificate", "inspection-ccc")]


def test_commodity_inspection_alone_needs_no_data():
    # cosmetics, 3304990099: 监管条件 AB, 检验检疫类别 M: legally inspected, nothing to add
    order = parse_order(load("9610-air-japan-cosmetics.json"))
    assert order.lines[0].inspection is None
    assert inspection.decide(order).lines[0].requirements == ("commodity",)


def test_export_food_needs_the_producer_filing_and_quarantine_no_entry_permit():
    order = parse_order(load("9610-summary-sea-germany.json", "export/valid"))
    bare = dataclasses.replace(order, lines=tuple(dataclasses.replace(ln, inspection=None) for ln in order.lines))
    assert {(p.path, p.rule) for p in inspection.problems(bare)} == {
        (f"$.lines[{i}].inspection.{f}", "inspection-food") for i in (0, 1)
        for f in ("producer_registration", "batch_no", "production_date")}
    # a line of export category Q: origin region and purpose, but no entry quarantine permit
    quarantined = dataclasses.replace(hs_line("9617001900", on=date(2026, 11, 20)),
                                      regulatory_conditions="B", inspection_categories="/Q")
    decision = inspection.decide(bare, lookup=lambda code, on=None: quarantined)
    assert [(p.path, p.rule) for p in inspection.problems(bare, decision)][:2] == [
        ("$.lines[0].inspection.origin_region", "inspection-quarantine"),
        ("$.lines[0].inspection.purpose", "inspection-quarantine")]


def test_purpose_must_be_a_ciq_purpose_code():
    data = load("1210-six-lines.json")
    data["lines"][1]["inspection"]["purpose"] = "77"
    assert refused(data) == [("$.lines[1].inspection.purpose", "inspection-purpose")]


def test_dates_produced_before_the_order_and_not_expired():
    data = load("1210-six-lines.json")          # ordered 2026-11-23
    data["lines"][0]["inspection"]["production_date"] = "2026-11-24"            # after the order
    data["lines"][1]["inspection"]["expiry_date"] = "2026-11-22"                # expired the day before
    data["lines"][1]["inspection"]["production_date"] = "2026-11-30"            # and after its expiry
    assert refused(data) == [
        ("$.lines[0].inspection.production_date", "inspection-dates"),
        ("$.lines[1].inspection.expiry_date", "inspection-dates"),
        ("$.lines[1].inspection.production_date", "inspection-dates"),
        ("$.lines[1].inspection.expiry_date", "inspection-dates"),
    ]


def test_inspection_object_is_closed_and_its_dates_must_exist():
    data = load("1210-six-lines.json")
    data["lines"][0]["inspection"]["colour"] = "red"
    assert refused(data) == [("$.lines[0].inspection.colour", "schema:additionalProperties")]
    data = load("1210-six-lines.json")
    data["lines"][0]["inspection"]["production_date"] = "2026-02-30"
    assert refused(data) == [("$.lines[0].inspection.production_date", "schema:format")]
    data = load("1210-six-lines.json")
    data["lines"][0]["inspection"] = {}
    assert ("$.lines[0].inspection", "schema:minProperties") in refused(data)


def test_the_typed_line_carries_the_data():
    ln = parse_order(load("9610-sea-australia.json")).lines[2].inspection
    assert (ln.producer_registration, ln.batch_no, ln.production_date, ln.expiry_date, ln.quarantine_permit_no,
            ln.origin_region, ln.purpose) == ("CAUS0802220227", "NB26S1007", date(2026, 10, 7), date(2027, 10, 6),
                                              "5300P2026001045", "New South Wales", "12")


# -- the record --------------------------------------------------------------------------------------

def test_inspection_record_lists_the_inspected_lines_and_validates(signing_key):
    order = parse_order(load("1210-six-lines.json"))
    root = build_inspection_record(order, inspection.decide(order), GUID)
    assert schemas.validate(root) == []
    ns = {"i": INSPECTION_NS}
    assert root.findtext("i:reference", namespaces=ns) == "ZYG2026112300045512"
    assert root.findtext("i:linesTotal", namespaces=ns) == "6"
    lines = root.findall("i:Line", ns)
    assert [ln.findtext("i:hsCode", namespaces=ns) for ln in lines] == ["2106909090", "0802620000", "8509800000"]
    assert [c.text for c in lines[1].findall("i:category", ns)] == ["P", "R"]
    assert lines[1].findtext("i:quarantinePermitNo", namespaces=ns) == "4612P2026000318"
    assert lines[2].findtext("i:cccCertificate", namespaces=ns) == "2021010718412233"
    signed = signing.XmlSigner().sign(root, signing_key)
    assert schemas.validate(etree.fromstring(signed)) == []
    assert etree.QName(signing.verify(signed).root).localname == "InspectionRecord"
    assert _inspection_check(etree.fromstring(signed)) is None


def test_no_record_without_a_line_under_legal_inspection():
    order = parse_order(load("1210-at-single-limit.json"))          # a handbag
    with pytest.raises(ValueError):
        build_inspection_record(order, inspection.decide(order), GUID)


def test_the_sandbox_inspection_desk_refuses_a_record_missing_data():
    order = parse_order(load("1210-six-lines.json"))
    lines = list(order.lines)
    lines[0] = dataclasses.replace(lines[0], inspection=dataclasses.replace(lines[0].inspection, batch_no=None))
    lines[2] = dataclasses.replace(lines[2], inspection=None)
    bare = dataclasses.replace(order, lines=tuple(lines))
    reason = _inspection_check(build_inspection_record(bare, inspection.decide(bare), GUID))
    assert "line 1 lacks batchNo" in reason and "line 3 lacks cccCertificate" in reason


def test_fixture_data_is_in_the_order_schema_only_as_an_optional_object():
    data = copy.deepcopy(load("1210-single-line.json"))
    assert "inspection" not in data["lines"][0]
    from gateway.domain.cbec_import.intake import order_json_schema
    line = order_json_schema()["$defs"]["line"]
    assert "inspection" in line["properties"] and "inspection" not in line["required"]
