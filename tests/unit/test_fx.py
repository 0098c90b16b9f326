"""FX / BOP records (gateway.domain.fx): codes, conversion at the customs monthly rate, limits.

Rates from gateway/reference/data/customs_rates.csv (approximations, not official): 2024-05
USD 7.1000, EUR 7.6680.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from gateway.domain.fx import FxError, FxLimitExceeded, fx_record, fx_record_for_order
from gateway.domain.parse import parse_order

VALID = Path(__file__).resolve().parents[2] / "fixtures" / "orders" / "valid"
DAY = date(2024, 5, 20)


def test_general_trade_payment_is_121010_and_converted_at_the_monthly_rate():
    r = fx_record(reference="DEC-1", regime="0110", direction="import", amount=D("60000.00"), currency="USD",
                  declared_on=DAY, channel="bank", goods="电动牙刷")
    assert (r.bop_code, r.bop_confidence, r.kind, r.form) == ("121010", "C", "payment", "境外汇款申请书")
    # 60,000.00 USD x 7.1000 = 426,000.00 CNY; a bank transfer has no per-transaction limit
    assert r.amount_cny == D("426000.00") and r.usd_equivalent == D("60000.00") and r.limit_usd is None
    assert r.rate.month == "2024-05" and r.rate.status == "approximation"
    assert r.currency_numeric == "502" and r.aggregate_code is None
    assert r.remark == "一般贸易进口 电动牙刷 货款"


def test_payment_institution_over_usd_50000_refused():
    with pytest.raises(FxLimitExceeded) as exc:
        fx_record(reference="E-1", regime="9610", direction="export", amount=D("50000.01"), currency="USD",
                  declared_on=DAY, channel="payment_institution")
    assert exc.value.limit_usd == D("50000") and exc.value.usd_equivalent == D("50000.01")
    assert "USD 50,000.00" in str(exc.value) and "USD 50,000.01" in str(exc.value)
    # exactly at the limit is allowed
    ok = fx_record(reference="E-2", regime="9610", direction="export", amount=D("50000.00"), currency="USD",
                   declared_on=DAY, channel="payment_institution")
    assert ok.kind == "income" and ok.form == "涉外收入申报单" and ok.aggregate_code == "999999"


def test_cny_amount_converted_to_usd_for_the_limit():
    # 360,000.00 CNY / 7.1000 = 50,704.2253... -> USD 50,704.23 > 50,000: refused, naming both
    with pytest.raises(FxLimitExceeded) as exc:
        fx_record(reference="I-1", regime="1210", direction="import", amount=D("360000.00"), currency="CNY",
                  declared_on=DAY, channel="payment_institution")
    assert exc.value.usd_equivalent == D("50704.23")
    assert "USD 50,704.23" in str(exc.value) and "360,000.00 CNY" in str(exc.value)


def test_eur_within_the_limit():
    r = fx_record(reference="E-3", regime="9710", direction="export", amount=D("40000.00"), currency="EUR",
                  declared_on=DAY, channel="payment_institution")
    # 40,000.00 EUR x 7.6680 = 306,720.00 CNY; / 7.1000 = 43,200.00 USD <= 50,000
    assert r.amount_cny == D("306720.00") and r.usd_equivalent == D("43200.00")
    assert (r.bop_code, r.bop_confidence) == ("121990", "U")


def test_cbec_import_orders():
    bonded = fx_record_for_order(parse_order((VALID / "1210-single-line.json").read_text("utf-8")))
    assert (bonded.bop_code, bonded.bop_confidence, bonded.kind) == ("121030", "U", "payment")
    wine = fx_record_for_order(parse_order((VALID / "9610-sea-france-wine.json").read_text("utf-8")))
    # the buyer paid 1,755.10 CNY through the payment company; 1,755.10 / 7.0800 = 247.898... -> USD 247.90
    assert (wine.bop_code, wine.channel, wine.amount_cny) == ("121990", "payment_institution", D("1755.10"))
    assert wine.usd_equivalent == D("247.90") and wine.usd_rate.status == "placeholder"
    assert wine.counterparty_country == "FRA" and wine.declared_on == date(2026, 11, 17)


def test_unknown_regime_or_channel_refused():
    with pytest.raises(FxError, match="0214"):
        fx_record(reference="X", regime="0214", direction="import", amount=D("1"), currency="USD",
                  declared_on=DAY, channel="bank")
    with pytest.raises(FxError, match="channel"):
        fx_record(reference="X", regime="0110", direction="import", amount=D("1"), currency="USD",
                  declared_on=DAY, channel="cash")
