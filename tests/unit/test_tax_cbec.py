"""CBEC retail import comprehensive tax (gateway.domain.tax.cbec): arithmetic written out, exact to the fen.

Rates come from gateway/reference/data/hs_lines.csv (unconfirmed data, see its header):
3304990099 cosmetics VAT 13 % CT 15 % (high-end only) MFN 1 %; 1901101000 infant formula VAT 13 %;
2106909090 food n.e.s. VAT 13 %; 9503008900 toys VAT 13 %; 2204210000 wine VAT 13 % CT 10 %;
2208300000 whisky CT 20 % + 0.912 CNY/l; 4202210090 handbags VAT 13 % MFN 10 %.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from gateway.domain.parse import parse_order
from gateway.domain.tax import apportion
from gateway.domain.tax.cbec import CbecItem, CbecRefused, quote, quote_items
from gateway.reference.hs import UnknownHsCode

VALID = Path(__file__).resolve().parents[2] / "fixtures" / "orders" / "valid"
TODAY = date(2026, 11, 22)


def fixture(name: str):
    return parse_order((VALID / name).read_text("utf-8"))


def item(number, hs, total, qty="1", legal_qty="1", legal_unit="035", unit="142"):
    return CbecItem(number, hs, D(total), D(qty), unit, D(legal_qty), legal_unit)


# ---- apportioning head amounts -------------------------------------------------------------------

def test_apportion_three_equal_lines_gives_the_remainder_fen_to_the_first():
    # 10.00 / 3 = 3.333...: truncated 3.33 + 3.33 + 3.33 = 9.99, one fen missing; the remainders tie
    # (0.00333...), so the earliest line takes it: 3.34 + 3.33 + 3.33 = 10.00
    assert apportion(D("10.00"), [D("100.00")] * 3) == [D("3.34"), D("3.33"), D("3.33")]


def test_apportion_largest_remainder_wins_and_negative_amounts_mirror():
    # 0.07 over 50 / 30 / 20: exact 0.035 / 0.021 / 0.014 -> truncated 0.03 / 0.02 / 0.01 (= 0.06);
    # remainders 0.005 / 0.001 / 0.004: the missing fen goes to line 1 -> 0.04 / 0.02 / 0.01
    weights = [D("50.00"), D("30.00"), D("20.00")]
    assert apportion(D("0.07"), weights) == [D("0.04"), D("0.02"), D("0.01")]
    assert apportion(D("-0.07"), weights) == [D("-0.04"), D("-0.02"), D("-0.01")]
    # a gift line (0.00) gets nothing
    assert apportion(D("8.00"), [D("596.00"), D("0.00")]) == [D("8.00"), D("0.00")]


def test_three_lines_freight_apportioned_then_taxed_line_by_line():
    q = quote_items([item(i, "2106909090", "100.00") for i in (1, 2, 3)], freight=D("10.00"), on=TODAY)
    # dutiable values 100.00 + 3.34 / 3.33 / 3.33 = 103.34, 103.33, 103.33 (sum 310.00)
    assert [ln.dutiable_value for ln in q.lines] == [D("103.34"), D("103.33"), D("103.33")]
    assert q.dutiable_value == D("310.00")
    # VAT 13 % x 70 % = 9.1 %: 103.34 x 0.091 = 9.40394 -> 9.40; 103.33 x 0.091 = 9.40303 -> 9.40
    assert [ln.vat for ln in q.lines] == [D("9.40"), D("9.40"), D("9.40")]
    assert q.total == D("28.20")      # the sum of rounded lines (310.00 x 0.091 = 28.21 would be one bill)


# ---- within the limits -----------------------------------------------------------------------------

def test_high_end_cosmetics_ct_15_within_limits():
    q = quote(fixture("9610-air-japan-cosmetics.json"))     # 1,380.00 serum, 50 g; freight 45.00, insurance 3.50
    (ln,) = q.lines
    assert q.mode == "within-limits" and q.ruleset.id == "CN-2019-04@2"
    # P = 1380.00 + 45.00 + 3.50 = 1428.50; 1428.50 / 50 g = 28.57 CNY per g >= 10: high-end, CT applies
    assert ln.dutiable_value == D("1428.50") and ln.ct_rate == D("0.15")
    assert ln.duty == D("0.00")
    # statutory CT = 1428.50 x 0.15 / 0.85 = 252.0882...; x 0.7 = 176.4617... -> 176.46
    assert ln.consumption_tax == D("176.46")
    # statutory VAT = (1428.50 + 252.0882...) x 0.13 = 218.4764...; x 0.7 = 152.9335... -> 152.93
    assert ln.vat == D("152.93")
    assert q.total == D("329.39")
    # the platform withheld 329.41 (1428.50 x a rounded 23.06 %): 0.02 too much
    assert q.tax_withheld == D("329.41") and q.withheld_difference == D("0.02")


def test_ordinary_cosmetics_below_threshold_pay_vat_only():
    q = quote(fixture("1210-single-line.json"))    # 2 jars of cream, 398.00, 0.12 kg
    (ln,) = q.lines
    # 398.00 / 120 g = 3.32 CNY per g < 10: not high-end, no consumption tax
    assert ln.ct_kind == "none" and ln.consumption_tax == D("0.00")
    # VAT 398.00 x 0.13 x 0.7 = 36.218 -> 36.22, exactly what was withheld
    assert ln.vat == D("36.22") and q.withheld_difference == D("0.00")


def test_infant_formula_vat_13_is_9_1_percent():
    q = quote_items([item(1, "1901101000", "596.00", qty="2", legal_qty="1.8", unit="122")], on=TODAY)
    # 596.00 x 0.13 x 0.7 = 596.00 x 0.091 = 54.236 -> 54.24
    assert q.lines[0].vat == D("54.24") and q.total == D("54.24")


def test_infant_formula_in_march_2019_uses_vat_16():
    q = quote_items([item(1, "1901101000", "596.00")], on=date(2019, 3, 15))
    assert q.ruleset.id == "CN-2019-01@2" and q.lines[0].vat_rate == D("0.16")
    # 596.00 x 0.16 x 0.7 = 66.752 -> 66.75
    assert q.total == D("66.75")


def test_the_discount_does_not_lower_the_dutiable_value_customs_taxes_what_the_inventory_declares():
    """The CEB621 carries line prices, freight and insurance, no discount: customs computes from those."""
    q = quote(fixture("1210-toys-discount.json"))   # 599.00 toy + 179.00 vitamins; freight 15.00, ins 0.80, discount 30.00
    # head = 15.00 + 0.80 = 15.80 (the discount is not deducted); by value over 778.00:
    #   15.80 x 599 / 778 = 12.1650... -> 12.16 (remainder 0.0050...)
    #   15.80 x 179 / 778 =  3.6353... ->  3.63 (remainder 0.0053...) + the missing fen -> 3.64
    assert [ln.head_share for ln in q.lines] == [D("12.16"), D("3.64")]
    assert [ln.dutiable_value for ln in q.lines] == [D("611.16"), D("182.64")]
    # VAT 611.16 x 0.091 = 55.61556 -> 55.62; 182.64 x 0.091 = 16.62024 -> 16.62; total 72.24
    assert [ln.vat for ln in q.lines] == [D("55.62"), D("16.62")]
    assert q.total == D("72.24") and q.withheld_difference == D("-2.73")   # 69.51 withheld: too little


def test_wine_ct_10_ad_valorem_within_limits():
    q = quote(fixture("9610-sea-france-wine.json"))   # 1,428.00 + freight 60.00 + insurance 5.00
    (ln,) = q.lines
    # P = 1493.00; statutory CT = 1493.00 x 0.10 / 0.90 = 165.8888...; x 0.7 = 116.1222... -> 116.12
    assert ln.consumption_tax == D("116.12")
    # statutory VAT = (1493.00 + 165.8888...) x 0.13 = 215.6555...; x 0.7 = 150.9588... -> 150.96
    assert ln.vat == D("150.96")
    assert q.total == D("267.08") and q.withheld_difference == D("0.02")


def test_whisky_compound_consumption_tax():
    q = quote_items([item(1, "2208300000", "500.00", legal_qty="0.7", legal_unit="095")], on=TODAY)
    (ln,) = q.lines
    # specific part 0.7 l x 0.912 = 0.6384
    # statutory CT = (500.00 + 0.6384) / (1 - 0.20) x 0.20 + 0.6384 = 125.1596 + 0.6384 = 125.7980
    # x 0.7 = 88.0586 -> 88.06
    assert ln.ct_kind == "compound" and ln.consumption_tax == D("88.06")
    # statutory VAT = (500.00 + 125.7980) x 0.13 = 81.35374; x 0.7 = 56.947618 -> 56.95
    assert ln.vat == D("56.95") and q.total == D("145.01")


def test_2018_order_uses_vat_16_and_the_2000_limit():
    q = quote_items([item(1, "2106909090", "1500.00")], freight=D("20.00"), on=date(2018, 10, 10))
    assert q.ruleset.id == "CN-2018-05@2" and q.ruleset.cbec_single_limit == D("2000")
    # P = 1520.00; VAT 16 % x 70 % = 11.2 %: 1520.00 x 0.112 = 170.24
    assert q.lines[0].vat_rate == D("0.16") and q.total == D("170.24")
    # the same goods before 2018-05-01: VAT 17 %: 1520.00 x 0.17 x 0.7 = 180.88
    assert quote_items([item(1, "2106909090", "1500.00")], freight=D("20.00"), on=date(2018, 3, 1)).total == D("180.88")


def test_2018_single_item_over_2000_is_refused_no_single_item_exception():
    with pytest.raises(CbecRefused) as exc:
        quote_items([item(1, "4202210090", "2100.00", legal_unit="007")], on=date(2018, 10, 10))
    assert exc.value.limit == "single" and exc.value.limit_value == D("2000")
    assert "2000" in str(exc.value) and "2100.00" in str(exc.value) and "general trade" in str(exc.value)


def test_at_the_single_limit_is_within():
    q = quote(fixture("1210-at-single-limit.json"))       # handbag 5,000.00, no freight
    # 5000.00 <= 5000: within; VAT 5000.00 x 0.091 = 455.00; nothing withheld -> 455.00 short
    assert q.mode == "within-limits" and q.total == D("455.00") and q.withheld_difference == D("-455.00")


# ---- over the limits ---------------------------------------------------------------------------------

def test_single_item_over_limit_taxed_in_full_and_counted():
    q = quote_items([item(1, "4202210090", "6000.00", legal_unit="007", unit="007")], freight=D("30.00"),
                    on=TODAY, annual_used=D("10000.00"))
    (ln,) = q.lines
    assert q.mode == "single-item-over-limit" and ln.share == D("1")
    # P = 6030.00; duty 10 % = 603.00; no consumption tax; VAT (6030.00 + 603.00) x 0.13 = 862.29
    assert (ln.duty, ln.consumption_tax, ln.vat) == (D("603.00"), D("0.00"), D("862.29"))
    assert q.total == D("1465.29")
    # counted toward the annual amount: 10000.00 + 6030.00 = 16030.00
    assert q.annual_counted == D("6030.00") and q.annual_after == D("16030.00")


def test_two_items_over_limit_refused():
    with pytest.raises(CbecRefused) as exc:
        quote(fixture("9610-over-single-limit.json"))
    # 4280.00 + 936.00 + freight 80.00 + insurance 15.00 = 5311.00 > 5000 with two lines
    assert exc.value.limit == "single" and exc.value.value == D("5311.00")
    assert "5000" in str(exc.value) and "5311.00" in str(exc.value)


def test_annual_limit_crossed_refused_and_exactly_reaching_it_allowed():
    goods = [item(1, "2106909090", "1000.00")]
    # 25000.00 + 1000.00 = 26000.00 <= 26000: allowed; VAT 1000.00 x 0.091 = 91.00
    ok = quote_items(goods, on=TODAY, annual_used=D("25000.00"))
    assert ok.total == D("91.00") and ok.annual_after == D("26000.00")
    # 25500.00 + 1000.00 = 26500.00 > 26000: refused, naming the annual limit and the amounts
    with pytest.raises(CbecRefused) as exc:
        quote_items(goods, on=TODAY, annual_used=D("25500.00"))
    assert exc.value.limit == "annual"
    assert "26000" in str(exc.value) and "25500.00" in str(exc.value) and "26500.00" in str(exc.value)


def test_single_item_over_limit_that_crosses_the_annual_limit_is_refused():
    with pytest.raises(CbecRefused) as exc:     # 20000.00 + 6030.00 = 26030.00 > 26000
        quote_items([item(1, "4202210090", "6000.00", legal_unit="007")], freight=D("30.00"), on=TODAY,
                    annual_used=D("20000.00"))
    assert exc.value.limit == "annual" and "26030.00" in str(exc.value)


def test_goods_off_the_positive_list_are_refused():
    with pytest.raises(CbecRefused) as exc:
        quote_items([item(1, "0810500000", "120.00")], on=TODAY)       # fresh kiwifruit
    assert exc.value.limit == "positive-list" and "0810500000" in str(exc.value)


def test_unknown_hs_code_is_a_clear_error():
    with pytest.raises(UnknownHsCode, match="9999999999"):
        quote_items([item(1, "9999999999", "10.00")], on=TODAY)


def test_every_valid_fixture_is_taxed_or_refused_by_name():
    outcomes = {}
    for path in sorted(VALID.glob("*.json")):
        try:
            outcomes[path.name] = quote(fixture(path.name)).total
        except CbecRefused as exc:
            outcomes[path.name] = exc.limit
    assert outcomes["9610-over-single-limit.json"] == "single"
    assert outcomes["9610-air-germany-x-id.json"] == D("191.56")   # (2037.00 + 60.00 + 8.00) x 0.091 = 191.555 -> 191.56
    assert all(v == "single" or isinstance(v, D) for v in outcomes.values())
