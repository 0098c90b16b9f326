"""General-trade intake (gateway.domain.general_trade.intake.parse_gt_order) and the one parse entry point
(gateway.domain.parse.parse_order): the fixture folders, then every rule edited in one at a time."""
from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.domain.cbec_import.order import Order
from gateway.domain.general_trade.intake import parse_gt_order
from gateway.domain.general_trade.order import GtOrder
from gateway.domain.general_trade.rules import RULES
from gateway.domain.parse import order_number, parse_order
from gateway.domain.problems import OrderInvalid

ROOT = Path(__file__).resolve().parents[2]
VALID_DIR = ROOT / "fixtures" / "orders" / "general" / "valid"
INVALID_DIR = ROOT / "fixtures" / "orders" / "general" / "invalid"
VALID = sorted(VALID_DIR.glob("*.json"))
INVALID = sorted(p for p in INVALID_DIR.glob("*.json") if p.name != "expected.json")
EXPECTED = json.loads((INVALID_DIR / "expected.json").read_text("utf-8"))
ON = date(2026, 11, 20)


def load(name: str) -> dict:
    return json.loads((VALID_DIR / name).read_text("utf-8"))


def problems(data, on=ON) -> list[tuple[str, str]]:
    with pytest.raises(OrderInvalid) as exc:
        parse_gt_order(data, on=on)
    assert all(p.message for p in exc.value.problems)
    return sorted((p.path, p.rule) for p in exc.value.problems)


@pytest.fixture
def wine() -> dict:
    return load("gt-import-wine.json")


@pytest.fixture
def formula() -> dict:
    return load("gt-import-infant-formula.json")


@pytest.fixture
def apparel() -> dict:
    return load("gt-export-apparel.json")


# -- fixture folders ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_fixture_parses_from_text_and_from_dict(path):
    as_text = parse_gt_order(path.read_bytes(), on=ON)
    as_dict = parse_gt_order(json.loads(path.read_text("utf-8")), on=ON)
    assert isinstance(as_text, GtOrder) and as_text == as_dict
    assert as_text.regime == "0110"
    for line in as_text.lines:
        assert line.total_price == line.unit_price * line.quantity
        assert len(line.currency) == 3 and line.currency.isalpha()
        assert line.origin_country.isalpha() and line.destination_country.isalpha()
    assert as_text.net_weight <= as_text.gross_weight


def test_valid_fixtures_cover_the_brief():
    orders = {p.name: parse_gt_order(p.read_bytes(), on=ON) for p in VALID}
    assert len(orders) >= 3
    wine = orders["gt-import-wine.json"]
    assert wine.direction == "import" and wine.licence_documents == () and wine.lines[0].hs_code.startswith("2204")
    assert all(line.inspection and line.inspection.production_dates for line in wine.lines)
    formula = orders["gt-import-infant-formula.json"]
    assert formula.lines[0].hs_code == "1901101000" and "A" in formula.lines[0].regulatory_conditions
    assert formula.lines[0].product_licences and formula.qualifications
    apparel = orders["gt-export-apparel.json"]
    assert apparel.direction == "export" and apparel.currency == "USD" and apparel.terms == "FOB"
    assert {o.terms for o in orders.values()} >= {"CIF", "FOB"}


def test_every_invalid_fixture_is_listed():
    assert set(EXPECTED) == {p.name for p in INVALID}
    assert len(INVALID) >= 3


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_fixture_reports_exactly_the_expected_problems(path):
    want = sorted((p["path"], p["rule"]) for p in EXPECTED[path.name])
    assert problems(path.read_bytes()) == want
    assert problems(json.loads(path.read_text("utf-8"))) == want


def test_every_rule_has_an_invalid_fixture():
    used = {p["rule"] for listed in EXPECTED.values() for p in listed}
    assert set(RULES) <= used, set(RULES) - used


# -- codes -------------------------------------------------------------------------------------------

def test_numeric_codes_become_iso_letters(wine):
    wine["currency"] = "300"
    wine["freight"]["currency"] = "300"
    wine["trade_country"] = "305"
    wine["lines"][0]["origin_country"] = "305"
    wine["lines"][0]["destination_country"] = "142"
    order = parse_gt_order(wine, on=ON)
    assert (order.currency, order.freight.currency, order.trade_country) == ("EUR", "EUR", "FRA")
    assert (order.lines[0].currency, order.lines[0].origin_country, order.lines[0].destination_country) == \
        ("EUR", "FRA", "CHN")


def test_line_currency_defaults_to_the_order_currency_and_may_differ(wine):
    wine["lines"][1]["currency"] = "USD"
    order = parse_gt_order(wine, on=ON)
    assert order.lines[0].currency == "EUR" and order.lines[1].currency == "USD"


def test_unknown_codes_are_reported_with_their_paths(wine):
    wine["lines"][1]["currency"] = "QQQ"
    wine["freight"]["currency"] = "999"
    wine["shipping_country"] = "701"      # 国别不详: a customs code with no ISO letters
    assert problems(wine) == [("$.freight.currency", "currency-code"), ("$.lines[1].currency", "currency-code"),
                              ("$.shipping_country", "country-code")]


def test_codes_are_looked_up_on_the_declaration_date(wine):
    # before any row of the code tables was in force, nothing is known
    found = problems(wine, on=date(1990, 1, 1))
    assert ("$.currency", "currency-code") in found and ("$.trade_country", "country-code") in found


def test_without_on_the_ie_date_is_the_declaration_date(wine):
    assert parse_gt_order(wine).ie_date == date(2026, 11, 18)


# -- reference HS data --------------------------------------------------------------------------------

def test_inspection_conditions_come_from_the_hs_data_when_not_given(wine):
    assert "regulatory_conditions" not in wine["lines"][0]
    line = parse_gt_order(wine, on=ON).lines[0]
    assert line.regulatory_conditions == "AB" and "R" in line.inspection_categories


def test_stated_conditions_win_over_the_hs_data(wine):
    for line in wine["lines"]:
        line["regulatory_conditions"] = ""
        line["inspection_categories"] = ""
        del line["inspection"], line["ciq_code"]
    order = parse_gt_order(wine, on=ON)
    assert all(line.inspection is None for line in order.lines)


def test_legal_units_are_checked_only_for_known_hs_lines(apparel):
    apparel["lines"][0]["second_unit"] = "036"
    assert problems(apparel) == [("$.lines[0].second_unit", "legal-units")]
    del apparel["lines"][0]["second_unit"], apparel["lines"][0]["second_quantity"]
    assert problems(apparel) == [("$.lines[0].second_unit", "legal-units")]
    apparel["lines"][0]["hs_code"] = "6109909099"      # not in the reference data: not checked
    parse_gt_order(apparel, on=ON)


# -- terms and charges -------------------------------------------------------------------------------

@pytest.mark.parametrize("direction,terms,needed", [
    ("import", "CIF", set()), ("import", "CFR", {"insurance"}), ("import", "C&I", {"freight"}),
    ("import", "FOB", {"freight", "insurance"}), ("import", "EXW", {"freight", "insurance"}),
    ("export", "FOB", set()), ("export", "EXW", set()), ("export", "CFR", {"freight"}),
    ("export", "C&I", {"insurance"}), ("export", "CIF", {"freight", "insurance"}),
])
def test_charges_follow_the_terms(apparel, direction, terms, needed):
    apparel["direction"], apparel["terms"] = direction, terms
    if direction == "import":
        apparel["price_declaration"] = {"special_relationship": False, "price_influence": False, "royalties": False}
        for line in apparel["lines"]:
            line["origin_country"], line["destination_country"] = "DEU", "CHN"
    for name in needed:
        apparel[name] = {"mark": "total", "value": "800"}
    order = parse_gt_order(apparel, on=ON)
    assert {name for name in ("freight", "insurance") if getattr(order, name)} == needed
    # a needed charge left out, or an included one declared, is a problem
    for name in ("freight", "insurance"):
        wrong = copy.deepcopy(apparel)
        if name in needed:
            del wrong[name]
        else:
            wrong[name] = {"mark": "rate", "value": "0.3"}
        assert problems(wrong) == [(f"$.{name}", "charges-for-terms")]


def test_amount_charges_default_to_the_order_currency_and_rates_have_none(wine):
    del wine["freight"]["currency"]
    order = parse_gt_order(wine, on=ON)
    assert order.freight.currency == "EUR" and order.insurance.currency is None
    assert order.freight.value == Decimal("2150") and order.insurance.mark == "rate"


def test_a_rate_over_100_percent(wine):
    wine["insurance"]["value"] = "100.5"
    assert problems(wine) == [("$.insurance.value", "charge-value")]


def test_money_as_a_json_number_is_refused_by_name(wine):
    wine["lines"][0]["unit_price"] = 6.8
    assert problems(wine) == [("$.lines[0].unit_price", "schema:type")]


def test_unit_price_has_at_most_four_decimals(wine):
    wine["lines"][0]["unit_price"] = "6.80001"
    assert ("$.lines[0].unit_price", "schema:pattern") in problems(wine)


# -- inspection ---------------------------------------------------------------------------------------

def test_export_legal_inspection_is_condition_b(apparel):
    apparel["lines"][0]["regulatory_conditions"] = "B"
    assert problems(apparel) == [("$.lines[0].ciq_code", "inspection-fields"),
                                 ("$.lines[0].inspection.goods_attributes", "inspection-fields"),
                                 ("$.lines[0].inspection.purpose", "inspection-fields")]
    apparel["lines"][0]["regulatory_conditions"] = "A"      # A is the import condition: no effect on exports
    parse_gt_order(apparel, on=ON)


def test_export_food_needs_dates_and_batch_but_no_foreign_manufacturer(apparel):
    apparel["lines"][0]["inspection_categories"] = "S"
    assert problems(apparel) == [("$.lines[0].inspection.batch_no", "food-inspection"),
                                 ("$.lines[0].inspection.production_dates", "food-inspection")]
    apparel["lines"][0]["inspection"] = {"production_dates": ["2026-10-01"], "batch_no": "B1"}
    parse_gt_order(apparel, on=ON)


def test_ccc_goods_need_a_3c_attribute(formula):
    formula["lines"][0]["inspection_categories"] = "L.R/S"
    assert problems(formula) == [("$.lines[0].inspection.goods_attributes", "ccc-attribute")]
    formula["lines"][0]["inspection"]["goods_attributes"].append("13")
    parse_gt_order(formula, on=ON)


def test_production_dates_must_exist(formula):
    formula["lines"][0]["inspection"]["production_dates"][1] = "2026-02-30"
    assert problems(formula) == [("$.lines[0].inspection.production_dates[1]", "schema:format")]


# -- parties and declarations ---------------------------------------------------------------------------

def test_owner_without_scc_is_allowed_only_with_code_no(apparel):
    del apparel["owner"]["scc"]
    assert problems(apparel) == [("$.owner.scc", "enterprise-codes")]
    apparel["owner"]["code"] = "NO"
    parse_gt_order(apparel, on=ON)


def test_exports_need_no_price_declaration(apparel):
    assert "price_declaration" not in apparel
    assert parse_gt_order(apparel, on=ON).price_declaration.special_relationship is None


def test_import_destination_is_china(wine):
    wine["lines"][0]["destination_country"] = "FRA"
    assert problems(wine) == [("$.lines[0].destination_country", "destination-country")]


# -- one entry point ----------------------------------------------------------------------------------

def test_parse_order_dispatches_by_regime(wine):
    assert isinstance(parse_order(wine, on=ON), GtOrder)
    assert isinstance(parse_order(json.dumps(wine, ensure_ascii=False), on=ON), GtOrder)
    cbec = json.loads((ROOT / "fixtures" / "orders" / "valid" / "1210-single-line.json").read_text("utf-8"))
    assert isinstance(parse_order(cbec, on=ON), Order)


def test_parse_order_reports_general_trade_problems(wine):
    wine["net_weight"] = "99999"
    with pytest.raises(OrderInvalid) as exc:
        parse_order(wine, on=ON)
    assert [(p.path, p.rule) for p in exc.value.problems] == [("$.net_weight", "net-weight")]


def test_parse_order_refuses_what_is_not_an_object():
    with pytest.raises(OrderInvalid) as exc:
        parse_order(b"[1, 2]")
    assert exc.value.problems[0].path == "$"


def test_order_number_of_a_declaration_is_declarant_and_client_ref(wine):
    order = parse_order(wine, on=ON)
    assert order_number(order) == ("3122980123", "WINE20261118000001")
    assert order.order_no == "WINE20261118000001"
