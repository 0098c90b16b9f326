"""Reference data (gateway.reference): code tables, HS lines and customs rates, as of a date."""
from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal as D
from itertools import pairwise
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.domain.common.dates import order_date
from gateway.domain.parse import parse_order
from gateway.domain.tax.rulesets import RULESETS, NoRuleSet, ruleset, ruleset_for
from gateway.reference import NotInForce, UnknownCode, codes, version
from gateway.reference.hs import HsLineNotInForce, UnknownHsCode, hs_codes, hs_line, hs_versions
from gateway.reference.rates import RateNotAvailable, customs_rate, customs_rate_record, rate_currencies

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 22)


# ---- code tables ---------------------------------------------------------------------------------

@pytest.mark.parametrize("numeric, iso", [("142", "CNY"), ("502", "USD"), ("110", "HKD"), ("116", "JPY"),
                                          ("300", "EUR"), ("303", "GBP"), ("601", "AUD")])
def test_currency_numeric_and_iso_both_ways(numeric, iso):
    assert codes.currency_iso(numeric, on=TODAY) == iso
    assert codes.currency_numeric(iso, on=TODAY) == numeric
    assert codes.currency_numeric(iso.lower(), on=TODAY) == numeric


def test_countries_numeric_alpha3_alpha2():
    assert codes.country_iso("303", on=TODAY) == "GBR"              # 303 is the UK, not France
    assert codes.country_iso("305", on=TODAY) == "FRA"
    assert codes.country_iso("142", on=TODAY, alpha=2) == "CN"
    assert codes.country_numeric("DEU", on=TODAY) == codes.country_numeric("DE", on=TODAY) == "304"
    with pytest.raises(UnknownCode, match="no ISO code"):
        codes.country_iso("701", on=TODAY)                           # 国别不详
    with pytest.raises(UnknownCode, match="'ZZZ'|ZZZ"):
        codes.country_numeric("ZZZ", on=TODAY)


def test_units_modes_offices():
    assert codes.unit_name("035") == "千克" and codes.unit_name("095", lang="en") == "litre"
    assert codes.transport_mode("5", on=TODAY).name_zh == "航空运输"
    assert codes.customs_office("2233", on=TODAY).confidence == "U"
    for mode in ("0110", "1210", "1239", "9610", "9710", "9810"):
        assert codes.trade_mode(mode, on=TODAY).code == mode
    with pytest.raises(UnknownCode, match="currencies"):
        codes.currency_iso("999", on=TODAY)


def test_code_outside_its_validity_is_not_in_force():
    # 9710 (B2B direct export) exists from 2020-07-01
    assert codes.trade_mode("9710", on=date(2020, 7, 1)).name_zh.startswith("跨境电子商务企业对企业")
    with pytest.raises(NotInForce) as exc:
        codes.trade_mode("9710", on=date(2020, 6, 30))
    assert "2020-07-01" in str(exc.value) and exc.value.windows == [(date(2020, 7, 1), None)]


# ---- HS lines ------------------------------------------------------------------------------------

def test_at_least_100_hs_lines_with_every_field():
    assert len(hs_codes()) >= 100
    line = hs_line("3304990099", on=TODAY)
    assert (line.unit1, line.vat_rate, line.ct_rate, line.ct_condition) == ("035", D("0.13"), D("0.15"),
                                                                             "high-end-cosmetics")
    assert line.cbec_list and line.import_inspection and line.inspection_import == ("M",)
    assert line.confidence == "U"                                   # the data says how sure it is
    wine = hs_line("0802620000", on=TODAY)
    assert wine.inspection_import == ("P", "R") and wine.inspection_export == ("Q", "S")


def test_vat_steps_17_16_13_and_11_10_9():
    assert hs_line("8509800000", on=date(2018, 4, 30)).vat_rate == D("0.17")
    assert hs_line("8509800000", on=date(2018, 5, 1)).vat_rate == D("0.16")
    assert hs_line("8509800000", on=date(2019, 3, 31)).vat_rate == D("0.16")
    assert hs_line("8509800000", on=date(2019, 4, 1)).vat_rate == D("0.13")
    assert [hs_line("0802120000", on=d).vat_rate for d in (date(2018, 1, 1), date(2018, 5, 1), date(2019, 4, 1))] \
        == [D("0.11"), D("0.10"), D("0.09")]


def test_date_before_valid_from_is_an_error_naming_the_periods():
    with pytest.raises(HsLineNotInForce) as exc:
        hs_line("8509800000", on=date(2017, 12, 31))               # data held from 2018-01-01
    assert "2018-01-01" in str(exc.value)
    with pytest.raises(HsLineNotInForce, match="2022-01-01"):
        hs_line("1509200000", on=date(2021, 12, 31))               # HS 2022 code
    with pytest.raises(HsLineNotInForce):
        hs_line("1509100000", on=date(2022, 1, 1))                 # valid_to is exclusive
    assert hs_line("1509100000", on=date(2021, 12, 31)).vat_rate == D("0.09")
    with pytest.raises(UnknownHsCode, match="0000000000"):
        hs_line("0000000000", on=TODAY)


def test_every_fixture_hs_code_is_known_on_its_order_date():
    for path in sorted((ROOT / "fixtures" / "orders" / "valid").glob("*.json")):
        order = parse_order(path.read_text("utf-8"))
        for line in order.lines:
            assert hs_line(line.hs_code, on=order_date(order)).code == line.hs_code, path.name


def test_every_hs_row_uses_a_vat_rate_of_its_rule_set():
    for code in hs_codes():
        for row in hs_versions(code):
            last = (row.valid_to - timedelta(days=1)) if row.valid_to else TODAY
            for day in (row.valid_from, last):
                assert row.vat_rate in ruleset_for(day).vat_rates, (code, day)
            assert row.ct_kind == "none" or row.ct_rate or row.ct_amount, code


def test_rule_sets_are_named_versioned_and_contiguous():
    assert ruleset_for(date(2018, 12, 31)).cbec_single_limit == D("2000")
    assert ruleset_for(date(2019, 1, 1)).cbec_single_limit == D("5000")
    assert ruleset_for(date(2019, 1, 1)).cbec_annual_limit == D("26000")
    assert ruleset("CN-2019-04@2") is ruleset_for(TODAY)
    for a, b in pairwise(RULESETS):
        assert a.valid_to == b.valid_from
    with pytest.raises(NoRuleSet, match="2016-04-08"):
        ruleset_for(date(2016, 4, 7))


# ---- customs rates ---------------------------------------------------------------------------------

def test_monthly_rates_2018_to_2026_for_six_currencies_never_claimed_official():
    assert set(rate_currencies()) >= {"USD", "EUR", "JPY", "HKD", "GBP", "AUD"}
    for year in range(2018, 2027):
        for month in range(1, 13):
            for cur in ("USD", "EUR", "JPY", "HKD", "GBP", "AUD"):
                rec = customs_rate_record(cur, on=date(year, month, 15))
                assert rec.cny_per_unit > 0 and rec.month == f"{year}-{month:02d}"
                assert rec.status in ("approximation", "placeholder")   # we hold no official figure
    assert customs_rate("USD", on=date(2024, 5, 1)) == customs_rate("USD", on=date(2024, 5, 31)) == D("7.1000")
    assert customs_rate("CNY", on=TODAY) == D("1")
    with pytest.raises(RateNotAvailable, match="2017-12"):
        customs_rate("USD", on=date(2017, 12, 31))


def test_data_files_ship_as_package_data_and_have_a_version():
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    assert '"*.csv"' in text
    assert len(version()) == 16


# ---- CLI -------------------------------------------------------------------------------------------

def test_cli_reference_hs_prints_one_line_as_json(capsys):
    assert main(["reference", "hs", "2204210000", "--date", "2018-06-01"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["vat_rate"] == "0.16" and data["ct_kind"] == "ad_valorem" and data["valid_to"] == "2019-04-01"
    assert main(["reference", "hs", "1509200000", "--date", "2021-01-01"]) == 2
    assert "not in force" in capsys.readouterr().err


def test_cli_tax_quote(capsys):
    order = str(ROOT / "fixtures" / "orders" / "valid" / "1210-coupon-discount.json")
    assert main(["tax", "quote", order]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["total"] == "176.92" and data["withheld"]["difference"] == "-10.09"   # discount not deducted
    assert data["ruleset"]["id"] == "CN-2019-04@2" and data["exchange_rate"]["cny_per_unit"] == "1"
    assert main(["tax", "quote", order, "--annual-used", "25500"]) == 1          # 25,500 + 876.00 > 26,000
    assert "annual" in capsys.readouterr().err
    assert main(["tax", "quote", order, "--date", "2018-10-10"]) == 0
    assert json.loads(capsys.readouterr().out)["ruleset"]["id"] == "CN-2018-05@2"
    assert main(["tax", "quote", order, "--regime", "general"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "general-import"
    assert main(["fx", "record", order]) == 0
    assert json.loads(capsys.readouterr().out)["bop"]["transaction_code"] == "121030"
