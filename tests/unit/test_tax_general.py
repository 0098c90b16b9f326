"""General-trade import taxes (gateway.domain.tax.general): arithmetic written out, exact to the fen.

Rates from gateway/reference/data/hs_lines.csv (unconfirmed data): 2204210000 wine MFN 14 %, CT 10 %,
VAT 13 %; 8509800000 domestic appliances MFN 8 %, VAT 13 %; 2208300000 whisky MFN 5 %, CT 20 % +
0.912 CNY/l, VAT 13 %.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from gateway.domain.tax import TaxError
from gateway.domain.tax.general import GoodsItem, quote_import

MAY_2024 = date(2024, 5, 20)


def test_wine_duty_14_ct_10_vat_13():
    q = quote_import([GoodsItem(1, "2204210000", D("10000.00"))], declared_on=MAY_2024)   # CIF, CNY
    (ln,) = q.lines
    # duty = 10000.00 x 0.14 = 1400.00
    assert ln.duty == D("1400.00")
    # CT = (10000.00 + 1400.00) / (1 - 0.10) x 0.10 = 1266.666... -> 1266.67
    assert ln.consumption_tax == D("1266.67")
    # VAT = (10000.00 + 1400.00 + 1266.666...) x 0.13 = 12666.666... x 0.13 = 1646.666... -> 1646.67
    assert ln.vat == D("1646.67")
    assert q.total == D("4313.34") and q.ruleset.id == "CN-2019-04@2"


def test_fob_to_cif_with_a_given_usd_rate():
    q = quote_import([GoodsItem(1, "8509800000", D("10000.00"))], declared_on=MAY_2024, currency="USD",
                     terms="FOB", freight=D("800.00"), insurance=D("25.50"), exchange_rate=D("7.1000"))
    (ln,) = q.lines
    # goods 10000.00 x 7.1000 = 71000.00; freight 800.00 x 7.1 = 5680.00; insurance 25.50 x 7.1 = 181.05
    assert (ln.goods_value, q.freight_cny, q.insurance_cny) == (D("71000.00"), D("5680.00"), D("181.05"))
    # CIF = 71000.00 + 5680.00 + 181.05 = 76861.05
    assert ln.dutiable_value == D("76861.05") and q.customs_value == D("76861.05")
    # duty 8 %: 76861.05 x 0.08 = 6148.884 -> 6148.88
    assert ln.duty == D("6148.88")
    # VAT = (76861.05 + 6148.884) x 0.13 = 83009.934 x 0.13 = 10791.29142 -> 10791.29
    assert ln.vat == D("10791.29")
    assert q.total == D("16940.17")
    assert q.rate.status == "given"


def test_fob_to_cif_at_the_customs_monthly_rate_of_the_declaration_date():
    q = quote_import([GoodsItem(1, "8509800000", D("10000.00"))], declared_on=MAY_2024, currency="USD",
                     terms="FOB", freight=D("800.00"), insurance=D("25.50"))
    # the table's USD rate for 2024-05 is 7.1000 (an approximation, said so in the result)
    assert q.rate.month == "2024-05" and q.rate.cny_per_unit == D("7.1000")
    assert q.rate.status == "approximation" and any("approximation" in n for n in q.notes)
    assert q.customs_value == D("76861.05") and q.total == D("16940.17")


def test_cfr_adds_insurance_and_unknown_insurance_is_3_per_mille():
    q = quote_import([GoodsItem(1, "8509800000", D("1000.00"))], declared_on=MAY_2024, currency="USD",
                     terms="FOB", freight=D("100.00"), insurance=None, exchange_rate=D("7.0000"))
    # insurance = (1000.00 + 100.00) x 0.003 = 3.30 USD -> 3.30 x 7 = 23.10 CNY
    assert q.insurance == D("3.30") and q.insurance_assumed and q.insurance_cny == D("23.10")
    # CIF = 7000.00 + 700.00 + 23.10 = 7723.10
    assert q.customs_value == D("7723.10")
    c = quote_import([GoodsItem(1, "8509800000", D("1100.00"))], declared_on=MAY_2024, currency="USD",
                     terms="C&F", insurance=D("3.30"), exchange_rate=D("7.0000"))
    # CFR 1100.00 x 7 = 7700.00 + insurance 23.10 = 7723.10: the same customs value
    assert c.terms == "CFR" and c.customs_value == D("7723.10")


def test_freight_apportioned_over_two_items_in_cny():
    q = quote_import([GoodsItem(1, "8509800000", D("300.00")), GoodsItem(2, "2204210000", D("700.00"))],
                     declared_on=MAY_2024, currency="USD", terms="FOB", freight=D("10.00"), insurance=D("0.01"),
                     exchange_rate=D("7.0000"))
    # goods 2100.00 and 4900.00 CNY; freight 70.00 + insurance 0.07 = 70.07 by value:
    #   70.07 x 2100 / 7000 = 21.021 -> 21.02; 70.07 x 4900 / 7000 = 49.049 -> 49.04 (+ the missing fen, larger
    #   remainder 0.009) -> 49.05
    assert [ln.head_share for ln in q.lines] == [D("21.02"), D("49.05")]
    assert [ln.dutiable_value for ln in q.lines] == [D("2121.02"), D("4949.05")]


def test_whisky_compound_consumption_tax_in_general_trade():
    q = quote_import([GoodsItem(1, "2208300000", D("10000.00"), quantity=D("120"), unit="095")],
                     declared_on=MAY_2024)
    (ln,) = q.lines
    # duty 5 %: 500.00; specific part 120 l x 0.912 = 109.44
    # CT = (10000.00 + 500.00 + 109.44) / 0.80 x 0.20 + 109.44 = 2652.36 + 109.44 = 2761.80
    # VAT = (10000.00 + 500.00 + 2761.80) x 0.13 = 1724.034 -> 1724.03
    assert (ln.duty, ln.consumption_tax, ln.vat) == (D("500.00"), D("2761.80"), D("1724.03"))
    with pytest.raises(TaxError, match="unit 095"):
        quote_import([GoodsItem(1, "2208300000", D("10000.00"))], declared_on=MAY_2024)


def test_taxes_below_50_cny_are_not_levied():
    q = quote_import([GoodsItem(1, "8509800000", D("200.00"))], declared_on=MAY_2024)
    # duty 200.00 x 0.08 = 16.00 < 50; VAT (200.00 + 16.00) x 0.13 = 28.08 < 50: neither is levied
    assert q.lines[0].duty == D("16.00") and q.lines[0].vat == D("28.08")
    assert q.waived == ("duty", "vat") and q.total == D("0")


def test_agreement_duty_rate_overrides_mfn():
    q = quote_import([GoodsItem(1, "2204210000", D("10000.00"))], declared_on=MAY_2024,
                     duty_rates={"2204210000": D("0")})
    # duty 0; CT = 10000.00 / 0.9 x 0.1 = 1111.111... -> 1111.11; VAT = 11111.111... x 0.13 = 1444.444... -> 1444.44
    assert (q.duty, q.consumption_tax, q.vat) == (D("0.00"), D("1111.11"), D("1444.44"))


def test_unsupported_terms_and_contradictory_cif_are_refused():
    with pytest.raises(TaxError, match="EXW"):
        quote_import([GoodsItem(1, "8509800000", D("1.00"))], declared_on=MAY_2024, terms="EXW")
    with pytest.raises(TaxError, match="CIF values already include"):
        quote_import([GoodsItem(1, "8509800000", D("1.00"))], declared_on=MAY_2024, freight=D("5.00"))
