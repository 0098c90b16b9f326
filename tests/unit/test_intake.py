"""Order intake (gateway.domain.cbec_import.intake, reached through gateway.domain.parse.parse_order): the fixture folders and every business rule.

Valid fixtures must parse; each invalid fixture must be refused with exactly the problems listed in
fixtures/orders/invalid/expected.json; the focused tests below edit one valid order a little at a time.
"""
from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.domain.cbec_import.order import Order
from gateway.domain.cbec_import.rules import RULES
from gateway.domain.identity import resident_id_check_char
from gateway.domain.parse import parse_order
from gateway.domain.problems import OrderInvalid

ROOT = Path(__file__).resolve().parents[2]
VALID_DIR = ROOT / "fixtures" / "orders" / "valid"
INVALID_DIR = ROOT / "fixtures" / "orders" / "invalid"
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


def rebalance(order: dict) -> dict:
    """Recompute goods_value, actual_paid and payment.amount from the lines (after an edit)."""
    total = sum((Decimal(ln["total_price"]) for ln in order["lines"]), Decimal(0))
    order["goods_value"] = str(total)
    paid = (total + Decimal(order["logistics"]["freight"]) + Decimal(order.get("tax_withheld", "0"))
            - Decimal(order.get("discount", "0")))
    order["actual_paid"] = order["payment"]["amount"] = str(paid)
    return order


@pytest.fixture
def bonded() -> dict:
    """A 1210 order: one cosmetics line, guarantor = merchant, tax withheld, no freight."""
    return load("1210-single-line.json")


@pytest.fixture
def direct() -> dict:
    """A 9610 order (air from Japan), one line, freight and insurance."""
    return load("9610-air-japan-cosmetics.json")


# --------------------------------------------------------------------------------------------------------------
# Fixture folders

@pytest.mark.parametrize("path", VALID, ids=names(VALID))
def test_valid_fixture_parses(path):
    as_dict = parse_order(json.loads(path.read_text("utf-8")))
    as_text = parse_order(path.read_bytes())
    assert isinstance(as_dict, Order)
    assert as_text == as_dict  # the JSON-text path (Decimal floats) builds the same order


@pytest.mark.parametrize("path", VALID, ids=names(VALID))
def test_valid_fixture_is_consistent(path):
    """What the rules do not check but every fixture keeps: realistic, self-consistent data."""
    data = json.loads(path.read_text("utf-8"))
    order = parse_order(data)
    assert order.payment.payer.name == order.buyer.name
    assert order.logistics.packages == 1
    assert order.logistics.net_weight <= order.logistics.gross_weight
    assert order.payment.amount == order.actual_paid
    november = (datetime(2026, 11, 1, tzinfo=CST), datetime(2026, 12, 1, tzinfo=CST))
    assert november[0] <= order.payment.paid_at < november[1]
    if order.ordered_at is not None:
        assert november[0] <= order.ordered_at <= order.payment.paid_at
    for line in order.lines:
        assert len(line.hs_code) == 10
        assert line.legal_quantity > 0
        assert (line.second_unit is None) == (line.second_quantity is None)
        if order.regime == "1210":
            assert line.item_record_no
    if order.regime == "9610":
        assert order.logistics.transport_mode in {"2", "5"}
        assert order.bonded is None


def test_valid_fixtures_cover_the_brief():
    orders = {p.name: parse_order(p.read_bytes()) for p in VALID}
    assert len(orders) >= 12
    assert {o.regime for o in orders.values()} == {"1210", "9610"}
    assert any(len(o.lines) == 1 for o in orders.values())
    assert any(len(o.lines) >= 5 for o in orders.values())
    assert any(line.unit_price == 0 and line.total_price == 0 for o in orders.values() for line in o.lines)
    assert any(o.discount > 0 for o in orders.values())
    assert any(o.freight > 0 and o.logistics.insurance > 0 for o in orders.values())
    assert any(o.tax_withheld > 0 for o in orders.values())
    assert any(line.unit_price.as_tuple().exponent == -5 for o in orders.values() for line in o.lines)
    assert any(line.quantity != line.quantity.to_integral() for o in orders.values() for line in o.lines)
    assert any(line.second_unit for o in orders.values() for line in o.lines)
    assert any(o.buyer.id_number.endswith("X") for o in orders.values())
    assert {o.logistics.transport_mode for o in orders.values() if o.regime == "9610"} == {"2", "5"}
    assert any(o.goods_value == Decimal("5000.00") and o.actual_paid == Decimal("5000.00") for o in orders.values())


def test_over_limit_fixture_passes_intake_and_says_what_customs_does():
    order = parse_order((VALID_DIR / "9610-over-single-limit.json").read_bytes())
    assert order.regime == "9610"
    assert len(order.lines) == 2
    assert order.actual_paid > 5000 and order.goods_value > 5000
    # what customs will answer (-621005) is documented (docs/order-format.md), never written into ceb:note
    assert not order.note
    # it is the only fixture over the limit
    over = [p.name for p in VALID if parse_order(p.read_bytes()).goods_value > 5000]
    assert over == ["9610-over-single-limit.json"]


@pytest.mark.parametrize("field", ["order_no", "waybill_no", "transaction_no"])
def test_fixture_numbers_are_unique(field):
    def value(d):
        return d["order_no"] if field == "order_no" else (
            d["logistics"]["waybill_no"] if field == "waybill_no" else d["payment"]["transaction_no"])
    values = Counter(value(json.loads(p.read_text("utf-8"))) for p in VALID)
    assert [v for v, n in values.items() if n > 1] == []


def test_every_invalid_fixture_is_listed_in_expected_json():
    assert set(EXPECTED) == set(names(INVALID))
    assert len(INVALID) >= 10


@pytest.mark.parametrize("path", INVALID, ids=names(INVALID))
def test_invalid_fixture_reports_exactly_the_expected_problems(path):
    want = sorted((p["path"], p["rule"]) for p in EXPECTED[path.name])
    assert problems(path.read_bytes()) == want                          # JSON text
    assert problems(json.loads(path.read_text("utf-8"))) == want        # already-decoded dict


def test_every_business_rule_has_an_invalid_fixture():
    used = {p["rule"] for listed in EXPECTED.values() for p in listed}
    assert set(RULES) <= used


def test_problems_carry_a_message():
    with pytest.raises(OrderInvalid) as exc:
        parse_order((INVALID_DIR / "several-problems.json").read_bytes())
    assert all(p.message for p in exc.value.problems)
    assert "$.goods_value" in str(exc.value)


# --------------------------------------------------------------------------------------------------------------
# actual-paid, payment-amount: acturalPaid = goodsValue + freight + taxTotal - discount = amountPaid

def test_discount_is_subtracted_from_actual_paid(bonded):
    bonded["discount"] = "20.00"
    bonded["actual_paid"] = bonded["payment"]["amount"] = "414.22"   # 398.00 + 0 + 36.22 - 20.00
    order = parse_order(bonded)
    assert order.discount == Decimal("20.00")
    assert order.actual_paid == Decimal("414.22")


def test_discount_not_subtracted_breaks_actual_paid(bonded):
    bonded["discount"] = "20.00"
    assert problems(bonded) == [("$.actual_paid", "actual-paid")]


def test_freight_and_tax_are_added_to_actual_paid(bonded):
    bonded["logistics"]["freight"] = "12.00"
    assert problems(bonded) == [("$.actual_paid", "actual-paid")]
    bonded["actual_paid"] = bonded["payment"]["amount"] = "446.22"
    parse_order(bonded)


def test_insurance_is_not_part_of_actual_paid(bonded):
    bonded["logistics"]["insurance"] = "5.00"   # CEB311 has no insurance; it goes to the waybill and inventory
    assert parse_order(bonded).logistics.insurance == Decimal("5.00")


def test_discount_and_tax_withheld_default_to_zero(bonded):
    del bonded["discount"], bonded["tax_withheld"]
    assert problems(bonded) == [("$.actual_paid", "actual-paid")]
    bonded["actual_paid"] = bonded["payment"]["amount"] = "398.00"
    order = parse_order(bonded)
    assert order.discount == 0 and order.tax_withheld == 0


def test_equal_amounts_with_different_scales_are_equal(bonded):
    bonded["actual_paid"] = "434.22000"
    bonded["payment"]["amount"] = "434.2200"
    parse_order(bonded)


def test_payment_amount_must_equal_actual_paid(bonded):
    bonded["payment"]["amount"] = "434.21"
    assert problems(bonded) == [("$.payment.amount", "payment-amount")]


# --------------------------------------------------------------------------------------------------------------
# goods-value and line-total

def test_goods_value_is_the_sum_of_line_totals(bonded):
    bonded["goods_value"] = "398.01"
    bonded["actual_paid"] = bonded["payment"]["amount"] = "434.23"
    assert problems(bonded) == [("$.goods_value", "goods-value")]


def test_gift_line_at_zero_passes(bonded):
    gift = dict(bonded["lines"][0], item_no="SKU-LAN-GIFT", item_record_no="LAN00022026", name="兰蔻小样（赠品）",
                quantity="1", unit_price="0", total_price="0", legal_quantity="0.007")
    bonded["lines"].append(gift)
    order = parse_order(bonded)
    assert order.lines[1].number == 2
    assert order.lines[1].total_price == 0


def test_gift_line_with_a_total_breaks_line_total(bonded):
    gift = dict(bonded["lines"][0], item_record_no="LAN00022026", quantity="1", unit_price="0",
                total_price="10.00", legal_quantity="0.007")
    bonded["lines"].append(gift)
    assert problems(rebalance(bonded)) == [("$.lines[1].total_price", "line-total")]


@pytest.mark.parametrize("quantity, unit_price, total_price", [
    ("2", "199.00", "398.00"),             # exact
    ("3", "33.33333", "99.99999"),         # exact, five decimals
    ("3", "33.33333", "100.00"),           # rounded to the fen
    ("1.36078", "58.8", "80.01"),          # fractional quantity, rounded
    ("1", "0.125", "0.13"),                # half up, not half even
    ("0.5", "0.01", "0.01"),               # 0.005 rounds up to one fen
])
def test_line_total_exact_or_rounded_to_the_fen_passes(bonded, quantity, unit_price, total_price):
    bonded["lines"][0].update(quantity=quantity, unit_price=unit_price, total_price=total_price)
    parse_order(rebalance(bonded))


@pytest.mark.parametrize("quantity, unit_price, total_price", [
    ("2", "199.00", "398.01"),             # off by one fen
    ("2", "199.00", "397.99"),
    ("3", "33.33333", "99.99"),            # truncated, not rounded
    ("1", "0.125", "0.12"),                # half even is not customs rounding
    ("3", "33.33333", "99.9999"),          # rounded to 4 decimals
])
def test_line_total_off_fails(bonded, quantity, unit_price, total_price):
    bonded["lines"][0].update(quantity=quantity, unit_price=unit_price, total_price=total_price)
    assert problems(rebalance(bonded)) == [("$.lines[0].total_price", "line-total")]


def test_every_wrong_line_is_reported(bonded):
    second = dict(bonded["lines"][0], item_record_no="LAN00032026", total_price="398.10")
    bonded["lines"][0]["total_price"] = "397.00"
    bonded["lines"].append(second)
    assert problems(rebalance(bonded)) == [("$.lines[0].total_price", "line-total"),
                                           ("$.lines[1].total_price", "line-total")]


# --------------------------------------------------------------------------------------------------------------
# net-weight, one-package, legal-quantity, second-unit

def test_net_weight_equal_to_gross_passes(bonded):
    bonded["logistics"]["net_weight"] = bonded["logistics"]["gross_weight"]
    parse_order(bonded)


def test_net_weight_above_gross_fails(bonded):
    bonded["logistics"]["net_weight"] = "1.26"
    assert problems(bonded) == [("$.logistics.net_weight", "net-weight")]


def test_more_than_one_package_fails(bonded):
    bonded["logistics"]["packages"] = 2
    assert problems(bonded) == [("$.logistics.packages", "one-package")]


def test_zero_packages_is_a_schema_problem(bonded):
    bonded["logistics"]["packages"] = 0
    assert problems(bonded) == [("$.logistics.packages", "schema:minimum")]


@pytest.mark.parametrize("legal_quantity, ok", [("0", False), ("0.00", False), ("0.00001", True), ("0.12", True)])
def test_legal_quantity_must_be_positive(bonded, legal_quantity, ok):
    bonded["lines"][0]["legal_quantity"] = legal_quantity
    if ok:
        parse_order(bonded)
    else:
        assert problems(bonded) == [("$.lines[0].legal_quantity", "legal-quantity")]


@pytest.fixture
def sweater() -> dict:
    """1210 order whose lines[4] (cotton sweater, 6110200090) has the second legal unit 035 kg."""
    order = load("1210-six-lines.json")
    assert order["lines"][4]["second_unit"] == "035"
    return order


def test_second_unit_with_quantity_passes(sweater):
    line = parse_order(sweater).lines[4]
    assert (line.second_quantity, line.second_unit) == (Decimal("0.42"), "035")


def test_second_unit_without_quantity_fails(sweater):
    del sweater["lines"][4]["second_quantity"]
    assert problems(sweater) == [("$.lines[4].second_quantity", "second-unit")]


def test_second_quantity_without_unit_fails(sweater):
    del sweater["lines"][4]["second_unit"]
    assert problems(sweater) == [("$.lines[4].second_unit", "second-unit")]


def test_second_quantity_must_be_positive(sweater):
    sweater["lines"][4]["second_quantity"] = "0"
    assert problems(sweater) == [("$.lines[4].second_quantity", "second-unit")]


def test_no_second_unit_at_all_passes(sweater):
    del sweater["lines"][4]["second_unit"], sweater["lines"][4]["second_quantity"]
    assert parse_order(sweater).lines[4].second_unit is None


# --------------------------------------------------------------------------------------------------------------
# bonded-data (1210) and direct-mail-transport (9610)

def test_1210_without_bonded_block_fails(bonded):
    del bonded["bonded"]
    assert problems(bonded) == [("$.bonded", "bonded-data")]


def test_1210_bonded_block_needs_the_area(bonded):
    del bonded["bonded"]["area"]
    assert problems(bonded) == [("$.bonded.area", "schema:required")]


def test_1210_line_without_item_record_no_fails(bonded):
    del bonded["lines"][0]["item_record_no"]
    assert problems(bonded) == [("$.lines[0].item_record_no", "bonded-data")]


def test_1210_without_anything_bonded_reports_each_missing_piece(bonded):
    del bonded["bonded"], bonded["lines"][0]["item_record_no"]
    assert problems(bonded) == [("$.bonded", "bonded-data"), ("$.lines[0].item_record_no", "bonded-data")]


def test_1210_needs_no_transport_data(bonded):
    assert "bill_no" not in bonded["logistics"]
    assert parse_order(bonded).logistics.bill_no is None


def test_9610_needs_no_bonded_data(direct):
    assert "bonded" not in direct and "item_record_no" not in direct["lines"][0]
    assert parse_order(direct).bonded is None


@pytest.mark.parametrize("field", ["conveyance_no", "voyage_no", "bill_no", "shipping_country"])
def test_9610_missing_transport_field_fails(direct, field):
    del direct["logistics"][field]
    assert problems(direct) == [(f"$.logistics.{field}", "direct-mail-transport")]


def test_9610_empty_transport_field_is_a_schema_problem(direct):
    direct["logistics"]["bill_no"] = ""
    assert problems(direct) == [("$.logistics.bill_no", "schema:minLength")]


def test_same_order_as_9610_without_transport_reports_all_four(bonded):
    bonded["regime"] = "9610"
    del bonded["bonded"]
    assert problems(bonded) == sorted((f"$.logistics.{f}", "direct-mail-transport")
                                      for f in ("conveyance_no", "voyage_no", "bill_no", "shipping_country"))


# --------------------------------------------------------------------------------------------------------------
# resident-id and payer-is-buyer

def set_identity(order: dict, id_type: str, id_number: str) -> dict:
    for person in (order["buyer"], order["payment"]["payer"]):
        person["id_type"], person["id_number"] = id_type, id_number
    return order


def test_resident_id_with_x_check_digit_passes(bonded):
    parse_order(set_identity(bonded, "1", "11010519491231002X"))


def test_resident_id_with_lowercase_x_fails(bonded):
    assert problems(set_identity(bonded, "1", "11010519491231002x")) == [
        ("$.buyer.id_number", "resident-id"), ("$.payment.payer.id_number", "resident-id")]


@pytest.mark.parametrize("number", [
    "110105199003071238",     # wrong check digit
    "110105900307123",        # old 15-digit card
    "11010519900307123",      # 17 characters
    "1101051990030712390",    # 19 characters
    "11010519900307123A",     # letter other than X
])
def test_bad_resident_id_fails_for_buyer_and_payer(bonded, number):
    assert problems(set_identity(bonded, "1", number)) == [
        ("$.buyer.id_number", "resident-id"), ("$.payment.payer.id_number", "resident-id")]


def test_id_type_2_skips_the_check_digit(bonded):
    order = parse_order(set_identity(bonded, "2", "E12345678"))   # e.g. a passport
    assert order.buyer.id_type == "2"


def test_wrong_payer_id_is_reported_as_bad_id_and_other_person(bonded):
    bonded["payment"]["payer"]["id_number"] = "110105199003071238"
    assert problems(bonded) == [("$.payment.payer.id_number", "payer-is-buyer"),
                                ("$.payment.payer.id_number", "resident-id")]


def test_payer_with_another_valid_id_fails(bonded):
    first17 = "11010519880512401"
    bonded["payment"]["payer"]["id_number"] = first17 + resident_id_check_char(first17)
    assert problems(bonded) == [("$.payment.payer.id_number", "payer-is-buyer")]


def test_payer_with_same_number_but_other_id_type_fails(bonded):
    bonded["payment"]["payer"]["id_type"] = "2"
    assert problems(bonded) == [("$.payment.payer.id_number", "payer-is-buyer")]


# --------------------------------------------------------------------------------------------------------------
# guarantor

@pytest.mark.parametrize("who", ["declarant", "merchant", "carrier"])
def test_guarantor_may_be_declarant_merchant_or_carrier(bonded, who):
    code = bonded["logistics"]["company"]["code"] if who == "carrier" else bonded[who]["code"]
    bonded["guarantor"]["code"] = code
    assert parse_order(bonded).guarantor_code == code


@pytest.mark.parametrize("code", ["46121601BC", "312226T001", "9999999999"])   # platform, payment company, unknown
def test_guarantor_must_be_declarant_merchant_or_carrier(bonded, code):
    bonded["guarantor"]["code"] = code
    assert problems(bonded) == [("$.guarantor.code", "guarantor")]


# --------------------------------------------------------------------------------------------------------------
# Schema problems (shape before rules)

def test_schema_problems_stop_before_business_rules(bonded):
    bonded["actual_paid"] = "1.00"          # a rule problem ...
    del bonded["consignee"]["telephone"]    # ... hidden behind a schema problem
    assert problems(bonded) == [("$.consignee.telephone", "schema:required")]


def test_unknown_field_inside_a_line(bonded):
    bonded["lines"][0]["currency"] = "142"
    assert problems(bonded) == [("$.lines[0].currency", "schema:additionalProperties")]


@pytest.mark.parametrize("value, rule", [("-1.00", "schema:pattern"), ("1.123456", "schema:pattern"),
                                         ("1,00", "schema:pattern"), ("01.00", "schema:pattern"),
                                         (" 1.00", "whitespace"), ("1.00\n", "control-char"), ("1e3", "schema:pattern"),
                                         ("", "schema:pattern"), (".5", "schema:pattern")])
def test_money_must_be_a_plain_decimal_string(bonded, value, rule):
    bonded["logistics"]["freight"] = value
    assert problems(bonded) == [("$.logistics.freight", rule)]


def test_an_order_must_have_a_line(bonded):
    bonded["lines"] = []
    assert problems(bonded) == [("$.lines", "schema:minItems")]


def test_an_order_is_an_object():
    assert problems(["not", "an", "order"]) == [("$", "schema:type")]


# --------------------------------------------------------------------------------------------------------------
# JSON text

def test_float_in_json_text_is_refused_naming_the_field():
    with pytest.raises(OrderInvalid) as exc:
        parse_order('{"order_no": 1.5, "regime": "1210"}')
    found = [p for p in exc.value.problems if p.path == "$.order_no"]
    assert [p.rule for p in found] == ["schema:type"]
    assert "string" in found[0].message and "decimal" in found[0].message


@pytest.mark.parametrize("old, new, path", [
    ('"goods_value": "398.00"', '"goods_value": 398.00', "$.goods_value"),
    ('"unit_price": "199.00"', '"unit_price": 199.0', "$.lines[0].unit_price"),
    ('"quantity": "2"', '"quantity": 2', "$.lines[0].quantity"),                 # an integer is refused too
    ('"gross_weight": "1.25"', '"gross_weight": 1.25', "$.logistics.gross_weight"),
    ('"freight": "0"', '"freight": NaN', "$.logistics.freight"),
])
def test_numbers_in_json_text_are_refused(old, new, path):
    text = (VALID_DIR / "1210-single-line.json").read_text("utf-8")
    assert text.count(old) == 1
    with pytest.raises(OrderInvalid) as exc:
        parse_order(text.replace(old, new))
    assert [(p.path, p.rule) for p in exc.value.problems] == [(path, "schema:type")]
    assert "string" in exc.value.problems[0].message


def test_decimal_strings_stay_exact_through_json_text():
    order = parse_order((VALID_DIR / "9610-air-usa-fractional.json").read_bytes())
    assert order.lines[1].unit_price == Decimal("33.33333")
    assert order.goods_value == Decimal("180.00999")
    assert str(order.lines[0].quantity) == "1.36078"


@pytest.mark.parametrize("text", [
    "",
    "{",
    '{"order_no": "A1",}',
    "{'order_no': 'A1'}",
    "order",
])
def test_invalid_json_text_gives_rule_json(text):
    with pytest.raises(OrderInvalid) as exc:
        parse_order(text)
    assert [(p.path, p.rule) for p in exc.value.problems] == [("$", "json")]
    assert exc.value.problems[0].message.startswith("not valid JSON")


@pytest.mark.parametrize("raw", ["你好".encode("gbk"), '{"a": "b"}'.encode("utf-16"), '{"a": 1}'.encode("utf-32-le"),
                                 b'{"a": "\xed\xa0\x80"}'])
def test_a_body_that_is_not_utf8_gives_rule_encoding(raw):
    with pytest.raises(OrderInvalid) as exc:
        parse_order(raw)
    assert [(p.path, p.rule) for p in exc.value.problems] == [("$", "encoding")]


def test_json_text_that_is_not_an_object():
    assert problems("[1, 2]") == [("$", "schema:type")]
    assert problems('"an order"') == [("$", "schema:type")]


def test_utf8_bytes_with_bom_are_accepted():
    raw = (VALID_DIR / "1210-single-line.json").read_bytes()
    assert parse_order(b"\xef\xbb\xbf" + raw).order_no == "HT20261120000101"


# --------------------------------------------------------------------------------------------------------------
# Date and time: no offset means China Standard Time (UTC+8)

def test_time_without_offset_is_china_time():
    order = parse_order(load("9610-minimal.json"))
    assert order.payment.paid_at == datetime(2026, 11, 26, 10, 22, 5, tzinfo=CST)
    assert order.payment.paid_at.utcoffset() == timedelta(hours=8)
    assert order.ordered_at is None


def test_time_in_utc_is_kept_as_the_same_instant():
    order = parse_order(load("9610-sea-france-wine.json"))
    assert order.payment.paid_at == datetime(2026, 11, 17, 18, 41, 58, tzinfo=CST)
    assert order.payment.paid_at.utcoffset() == timedelta(0)


def test_explicit_offset_is_kept(bonded):
    bonded["ordered_at"] = "2026-11-20T03:15:00+01:00"
    assert parse_order(bonded).ordered_at == datetime(2026, 11, 20, 10, 15, tzinfo=CST)


@pytest.mark.parametrize("value", ["2026-11-20", "2026-11-20 10:15:00", "2026-11-20T10:15", "20261120101500",
                                   "2026-11-20T10:15:00.123+08:00", "2026-11-20T10:15:00+0800"])
def test_time_shapes_outside_the_format_are_schema_problems(bonded, value):
    bonded["payment"]["paid_at"] = value
    assert problems(bonded) == [("$.payment.paid_at", "schema:pattern")]


@pytest.mark.parametrize("value", ["2026-11-31T10:00:00", "2026-11-20T25:00:00", "2026-11-20T10:00:00+24:00"])
def test_impossible_date_is_an_order_problem(bonded, value):
    bonded["payment"]["paid_at"] = value
    with pytest.raises(OrderInvalid) as exc:
        parse_order(bonded)
    assert [p.path for p in exc.value.problems] == ["$.payment.paid_at"]


def test_packages_as_float_is_refused(bonded):
    bonded["logistics"]["packages"] = 1.0
    assert problems(bonded) == [("$.logistics.packages", "schema:type")]


def test_packages_as_float_in_json_text_is_refused():
    text = (VALID_DIR / "1210-single-line.json").read_text("utf-8").replace('"packages": 1', '"packages": 1.0')
    assert problems(text) == [("$.logistics.packages", "schema:type")]


# --------------------------------------------------------------------------------------------------------------
# The rule catalogue

def test_rule_names_are_stable():
    assert set(RULES) == {
        "actual-paid", "goods-value", "line-total", "payment-amount", "net-weight", "one-package", "bonded-data",
        "direct-mail-transport", "resident-id", "guarantor", "second-unit", "legal-quantity", "payer-is-buyer",
    }


def test_parse_does_not_change_its_input(bonded):
    before = copy.deepcopy(bonded)
    parse_order(bonded)
    assert bonded == before
