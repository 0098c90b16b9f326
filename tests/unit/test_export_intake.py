"""Export order intake (gateway.domain.cbec_export.intake, reached through gateway.domain.parse.parse_order).

Valid fixtures must parse; each invalid fixture must be refused with exactly the problems listed in
fixtures/orders/export/invalid/expected.json; the focused tests edit one valid order at a time.
"""
from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.domain.cbec_export.intake import parse_export_order
from gateway.domain.cbec_export.order import ExportOrder, Summary
from gateway.domain.cbec_export.rules import RULES
from gateway.domain.cbec_import.order import Order
from gateway.domain.common.parties import Party
from gateway.domain.parse import parse_order
from gateway.domain.problems import OrderInvalid

ROOT = Path(__file__).resolve().parents[2]
VALID_DIR = ROOT / "fixtures" / "orders" / "export" / "valid"
INVALID_DIR = ROOT / "fixtures" / "orders" / "export" / "invalid"
VALID = sorted(VALID_DIR.glob("*.json"))
INVALID = sorted(p for p in INVALID_DIR.glob("*.json") if p.name != "expected.json")
EXPECTED = json.loads((INVALID_DIR / "expected.json").read_text("utf-8"))
CST = timezone(timedelta(hours=8))


def names(paths):
    return [p.name for p in paths]


def load(name: str) -> dict:
    return json.loads((VALID_DIR / name).read_text("utf-8"))


def problems(data) -> list[tuple[str, str]]:
    """The (path, rule) pairs parse_order reports; fails the test if it accepts the order."""
    with pytest.raises(OrderInvalid) as exc:
        parse_order(data)
    return sorted((p.path, p.rule) for p in exc.value.problems)


@pytest.fixture
def simple() -> dict:
    """9610, statisticsFlag A, USD, one line, a foreign payment company without customs code."""
    return load("9610-simplified-air-usa.json")


@pytest.fixture
def full() -> dict:
    """9610, statisticsFlag B, EUR, two lines, summary, arrival, departure and bill list."""
    return load("9610-summary-sea-germany.json")


@pytest.fixture
def zone() -> dict:
    """1210 special-zone export, JPY, two lines, a points discount."""
    return load("1210-special-zone-japan.json")


# --------------------------------------------------------------------------------------------------------------
# Fixture folders

@pytest.mark.parametrize("path", VALID, ids=names(VALID))
def test_valid_fixture_parses(path):
    as_dict = parse_order(json.loads(path.read_text("utf-8")))
    as_text = parse_order(path.read_bytes())
    assert isinstance(as_dict, ExportOrder)
    assert as_text == as_dict  # the JSON-text path (Decimal floats) builds the same order
    assert as_dict == parse_export_order(path.read_text("utf-8"))


def test_valid_fixtures_cover_the_brief():
    orders = [parse_order(p.read_text("utf-8")) for p in VALID]
    kinds = {(o.regime, o.statistics_flag) for o in orders}
    assert {("9610", "A"), ("9610", "B"), ("1210", "A"), ("1239", "B")} <= kinds
    assert max(len(o.lines) for o in orders) >= 5
    assert {o.currency for o in orders} >= {"502", "300", "303", "116", "142"}
    assert any(o.owner.code == "NO" for o in orders)
    assert any(o.payment.company.code is None for o in orders)
    assert any(o.arrival and o.departure and o.bill_list for o in orders)


@pytest.mark.parametrize("field", ["order_no", "waybill_no"])
def test_fixture_numbers_are_unique(field):
    values = [(d["logistics"] if field == "waybill_no" else d)[field]
              for d in (json.loads(p.read_text("utf-8")) for p in VALID)]
    assert not [v for v, n in Counter(values).items() if n > 1]


def test_every_invalid_fixture_is_listed_in_expected_json():
    assert sorted(EXPECTED) == names(INVALID)


@pytest.mark.parametrize("path", INVALID, ids=names(INVALID))
def test_invalid_fixture_reports_exactly_the_expected_problems(path):
    expected = sorted((p["path"], p["rule"]) for p in EXPECTED[path.name])
    assert problems(path.read_text("utf-8")) == expected


def test_every_business_rule_has_an_invalid_fixture():
    used = {p["rule"] for ps in EXPECTED.values() for p in ps}
    assert set(RULES) <= used, set(RULES) - used


def test_problems_carry_a_message():
    with pytest.raises(OrderInvalid) as exc:
        parse_order((INVALID_DIR / "several-problems.json").read_text("utf-8"))
    assert all(p.message for p in exc.value.problems)


# --------------------------------------------------------------------------------------------------------------
# One entry point for both directions

def test_import_orders_still_parse_as_import_orders():
    text = (ROOT / "fixtures" / "orders" / "valid" / "1210-single-line.json").read_text("utf-8")
    assert type(parse_order(text)) is Order


def test_an_import_order_marked_export_is_read_with_the_export_format():
    data = json.loads((ROOT / "fixtures" / "orders" / "valid" / "9610-minimal.json").read_text("utf-8"))
    data["direction"] = "export"
    found = problems(data)
    assert ("$", "schema:additionalProperties") in found      # buyer, consignee, guarantor ...
    assert ("$.statistics_flag", "schema:required") in found


def test_an_export_order_without_direction_is_read_as_import(simple):
    del simple["direction"]
    assert ("$.direction", "schema:required") in problems(simple)


# --------------------------------------------------------------------------------------------------------------
# The typed order

def test_typed_values(full):
    order = parse_order(full)
    assert order.direction == "export" and order.regime == "9610" and order.needs_summary
    assert order.currency == "300" and order.goods_value == Decimal("542.00")
    assert order.freight == Decimal("38.00") and order.discount == Decimal(0)
    assert order.logistics.packages == 2 and order.logistics.destination_port == "3041"
    assert order.lines[1].number == 2 and order.lines[1].legal_quantity == Decimal("21.6")
    assert order.lines[0].final_destination_country is None     # the logistics destination applies
    assert order.summary == Summary(Party("4403980T9V", "深圳市报关行联合有限公司"), by_owner=True)
    assert order.departure.left_at == datetime(2026, 11, 24, 18, 30, tzinfo=CST)
    assert order.export_date == date(2026, 11, 24)
    assert order.bill_list and order.arrival.operator.code == "4403980Z1X"


def test_summary_defaults_to_the_declarant_by_consignor(full):
    del full["summary"]
    order = parse_order(full)
    assert order.summary == Summary(order.declarant, by_owner=False)


def test_simplified_declaration_has_no_summary(simple):
    order = parse_order(simple)
    assert order.summary is None and not order.needs_summary


def test_received_at_without_offset_is_china_time(simple):
    simple["payment"]["received_at"] = "2026-11-20T09:02:11"
    assert parse_order(simple).payment.received_at == datetime(2026, 11, 20, 9, 2, 11, tzinfo=CST)


def test_special_zone_order(zone):
    order = parse_order(zone)
    assert order.is_special_zone
    assert order.special_zone.account_book_no == "T2244W000318"
    assert [line.item_record_no for line in order.lines] == ["WGQ2026000117", "WGQ2026000245"]


# --------------------------------------------------------------------------------------------------------------
# Amounts

def test_payment_is_goods_plus_freight_minus_discount(zone):
    assert parse_order(zone).payment.amount == Decimal(9440 + 1200 - 440)


def test_discount_not_subtracted_breaks_payment_amount(zone):
    zone["payment"]["amount"] = "10640"
    assert problems(zone) == [("$.payment.amount", "payment-amount")]


def test_insurance_is_not_part_of_the_payment(full):
    full["payment"]["amount"] = "582.50"        # + insurance 2.50
    assert problems(full) == [("$.payment.amount", "payment-amount")]


def test_goods_value_is_fob_the_sum_of_line_totals(full):
    full["goods_value"] = "580.00"               # FOB + freight is not the goods value
    full["payment"]["amount"] = "618.00"
    assert problems(full) == [("$.goods_value", "goods-value")]


@pytest.mark.parametrize("quantity, unit_price, total_price", [("3", "33.33333", "99.99999"), ("3", "33.333", "100.00")])
def test_line_total_exact_or_rounded_passes(simple, quantity, unit_price, total_price):
    line = simple["lines"][0]
    line.update(quantity=quantity, unit_price=unit_price, total_price=total_price)
    simple["goods_value"] = total_price
    simple["payment"]["amount"] = str(Decimal(total_price) + Decimal("6.50"))
    parse_order(simple)


def test_line_total_off_fails(simple):
    simple["lines"][0]["total_price"] = "51.99"
    simple["goods_value"], simple["payment"]["amount"] = "51.99", "58.49"
    assert problems(simple) == [("$.lines[0].total_price", "line-total")]


def test_money_must_be_a_string(simple):
    simple["goods_value"] = 51.98
    assert problems(simple) == [("$.goods_value", "schema:type")]


def test_float_in_json_text_is_refused_naming_the_field(simple):
    text = json.dumps(simple, ensure_ascii=False).replace('"charge"', '"x"').replace(
        '"amount": "58.48"', '"amount": 58.48')
    assert problems(text) == [("$.payment.amount", "schema:type")]


# --------------------------------------------------------------------------------------------------------------
# Parcel, codes and parties

def test_several_packages_are_fine_on_export(simple):
    simple["logistics"]["packages"] = 3
    assert parse_order(simple).logistics.packages == 3


def test_net_weight_above_gross_fails(simple):
    simple["logistics"]["net_weight"] = "0.43"
    assert problems(simple) == [("$.logistics.net_weight", "net-weight")]


def test_currency_is_a_customs_code(simple):
    simple["currency"] = "USD"
    assert problems(simple) == [("$.currency", "schema:pattern")]


def test_waybill_number_is_at_most_32(simple):
    simple["logistics"]["waybill_no"] = "Y" * 33
    assert problems(simple) == [("$.logistics.waybill_no", "schema:maxLength")]


def test_more_than_100_lines_is_a_schema_problem(simple):
    simple["lines"] = simple["lines"] * 101
    assert ("$.lines", "schema:maxItems") in problems(simple)


def test_destination_cannot_be_china(simple):
    simple["logistics"]["destination_country"] = "142"
    simple["lines"][0]["final_destination_country"] = "142"
    assert problems(simple) == [("$.lines[0].final_destination_country", "destination-country"),
                                ("$.logistics.destination_country", "destination-country")]


@pytest.mark.parametrize("code, ok", [("NO", True), ("4401960AB3", True), ("91310115MA1K4B7X2E", True),
                                      ("no", False), ("4401960AB", False), ("", False)])
def test_owner_code(simple, code, ok):
    simple["owner"]["code"] = code
    if ok:
        assert parse_order(simple).owner.code == code
    else:
        assert problems(simple) in ([("$.owner.code", "owner-code")], [("$.owner.code", "schema:minLength")])


def test_payment_company_code_is_optional_but_not_empty(simple):
    assert parse_order(simple).payment.company.code is None
    simple["payment"]["company"]["code"] = ""
    assert problems(simple) == [("$.payment.company.code", "schema:pattern")]


def test_platform_without_customs_code_writes_wu(simple):
    assert parse_order(simple).platform.code == "无"


# --------------------------------------------------------------------------------------------------------------
# Regimes and declaration types

def test_1239_needs_special_zone_data_too():
    data = load("1239-special-zone-korea.json")
    del data["special_zone"]
    data["lines"][0].pop("item_record_no")
    assert problems(data) == [("$.lines[0].item_record_no", "special-zone-data"),
                              ("$.special_zone", "special-zone-data")]


def test_9610_refuses_special_zone_data(simple):
    simple["special_zone"] = {"enterprise": {"code": "4403660001", "name": "x"}, "account_book_no": "T1"}
    assert problems(simple) == [("$.special_zone", "special-zone-data")]


def test_regime_0110_is_not_an_export_cbec_regime(simple):
    simple["regime"] = "0110"
    with pytest.raises(OrderInvalid) as exc:
        parse_export_order(simple)
    assert [(p.path, p.rule) for p in exc.value.problems] == [("$.regime", "schema:enum")]
    # through the one entry point, regime 0110 is a general-trade declaration, read by its own format
    assert ("$.regime", "schema:enum") not in problems(simple)


def test_simplified_declaration_refuses_a_licence_summary_declaration_takes_it(simple, full):
    simple["license_no"] = "26-AB-100233"
    assert problems(simple) == [("$.license_no", "simplified-declaration")]
    full["license_no"] = "26-AB-100233"
    assert parse_order(full).license_no == "26-AB-100233"


def test_statistics_flag_is_a_or_b(simple):
    simple["statistics_flag"] = "C"
    assert problems(simple) == [("$.statistics_flag", "schema:enum")]


# --------------------------------------------------------------------------------------------------------------
# Later filings

def test_bill_list_needs_conveyance_voyage_and_bill(full):
    for field in ("conveyance_name", "voyage_no", "bill_no"):
        del full["logistics"][field]
    assert problems(full) == [("$.logistics.bill_no", "bill-list-transport"),
                              ("$.logistics.conveyance_name", "bill-list-transport"),
                              ("$.logistics.voyage_no", "bill-list-transport")]
    full["bill_list"] = False
    parse_order(full)


def test_arrival_needs_the_domestic_conveyance(full):
    del full["logistics"]["domestic_conveyance_no"]
    assert problems(full) == [("$.logistics.domestic_conveyance_no", "arrival-data")]


@pytest.mark.parametrize("path, value", [("export_date", "2026-02-30"), ("departure.left_at", "2026-11-31T10:00:00")])
def test_dates_must_exist(full, path, value):
    target = full
    *parents, last = path.split(".")
    for p in parents:
        target = target[p]
    target[last] = value
    assert problems(full) == [(f"$.{path}", "schema:format")]


def test_input_is_not_changed(full):
    before = copy.deepcopy(full)
    parse_order(full)
    assert full == before
