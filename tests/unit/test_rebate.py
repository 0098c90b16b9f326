"""Export rebate / exemption data (gateway.domain.tax.rebate): arithmetic written out, exact to the fen.

Rebate rates from gateway/reference/data/hs_lines.csv (unconfirmed data): 8509800000 13 % (16 % from
2018-05-01 to 2019-03-31), 0802120000 almonds 9 %.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from gateway.domain.tax import TaxError
from gateway.domain.tax.rebate import ExportDeclaration, ExportItem, PurchaseInvoice, rebate_record

DAY = date(2024, 5, 20)


def invoice(amount, rate, vat=None, number="00112233"):
    amount, rate = D(amount), D(rate)
    return PurchaseInvoice("3300241130", number, date(2024, 5, 2), amount,
                           D(vat) if vat else (amount * rate).quantize(D("0.01")), rate, "91330100MA27XXXXXX")


def decl(regime="0110", items=None, kind="trading", **kw):
    items = items or (ExportItem(1, "8509800000", "电动牙刷", "001", D("400"), D("1600.00"),
                                 (invoice("10000.00", "0.13"),)),)
    return ExportDeclaration(regime, "310120240123456789", kw.pop("export_date", DAY), "USD", kind, tuple(items), **kw)


def test_general_trade_refund_13_percent_on_purchase_invoice():
    r = rebate_record(decl(), exchange_rate=D("7.1000"))
    (ln,) = r.lines
    # invoice 10,000.00 excluding VAT (VAT 13 % = 1,300.00); refund = 10,000.00 x 13 % = 1,300.00
    assert r.outcome == "refund" and ln.refund == D("1300.00") and r.refund == D("1300.00")
    assert ln.not_refundable == D("0.00")            # 1,300.00 - 1,300.00
    # FOB 1,600.00 USD x 7.1000 = 11,360.00 CNY
    assert ln.fob_cny == D("11360.00") and ln.rebate_rate == D("0.13")


def test_refund_capped_at_the_invoice_vat_rate():
    items = (ExportItem(1, "8509800000", "电动牙刷", "001", D("400"), D("1600.00"), (invoice("10000.00", "0.03"),)),)
    r = rebate_record(decl(items=items), exchange_rate=D("7.1000"))
    # small-scale supplier invoice at 3 %: refund = 10,000.00 x 3 % = 300.00 (not 13 %)
    assert r.lines[0].applied_rate == D("0.03") and r.refund == D("300.00")


def test_food_rebate_9_percent():
    items = (ExportItem(1, "0802120000", "扁桃仁", "035", D("2000"), D("3000.00"),
                        (invoice("20000.00", "0.09"),)),)
    r = rebate_record(decl(items=items), exchange_rate=D("7.1000"))
    # 20,000.00 x 9 % = 1,800.00
    assert r.refund == D("1800.00")


def test_rebate_rate_follows_the_export_date():
    r = rebate_record(decl(export_date=date(2019, 3, 15), items=(
        ExportItem(1, "8509800000", "电动牙刷", "001", D("400"), D("1600.00"), (invoice("10000.00", "0.16"),)),)),
        exchange_rate=D("6.7000"))
    # exported 2019-03-15: rebate rate 16 %: 10,000.00 x 16 % = 1,600.00
    assert r.lines[0].rebate_rate == D("0.16") and r.refund == D("1600.00")


def test_9610_with_invoices_needs_the_payment_collected():
    blocked = rebate_record(decl(regime="9610", fx_collected=False), exchange_rate=D("7.1"))
    assert blocked.outcome == "not-eligible" and blocked.refund == D("0")
    assert any("payment collected" in r for r in blocked.reasons)
    ok = rebate_record(decl(regime="9610", fx_collected=True), exchange_rate=D("7.1"))
    assert ok.outcome == "refund" and ok.refund == D("1300.00")


def test_9610_without_invoices_in_a_pilot_zone_is_exempt_without_refund():
    items = (ExportItem(1, "8509800000", "电动牙刷", "001", D("3"), D("120.00")),)
    r = rebate_record(decl(regime="9610", items=items, pilot_zone_registered=True), exchange_rate=D("7.1000"))
    assert r.outcome == "exempt" and r.vat_exempt and r.refund == D("0")
    assert r.lines[0].fob_cny == D("852.00")          # 120.00 x 7.1000
    not_registered = rebate_record(decl(regime="9610", items=items), exchange_rate=D("7.1000"))
    assert not_registered.outcome == "not-eligible" and not not_registered.vat_exempt


def test_manufacturer_credit_and_refund():
    items = (ExportItem(1, "8509800000", "电动牙刷", "001", D("400"), D("10000.00")),)
    r = rebate_record(decl(items=items, kind="manufacturer", closing_input_credit=D("6000.00")),
                      exchange_rate=D("7.0000"))
    # FOB 10,000.00 x 7 = 70,000.00; credit-and-refund = 70,000.00 x 13 % = 9,100.00;
    # not creditable = 70,000.00 x (13 % - 13 %) = 0.00; refund = min(6,000.00, 9,100.00) = 6,000.00,
    # offset (免抵) = 9,100.00 - 6,000.00 = 3,100.00
    assert r.outcome == "credit-refund" and r.refund == D("6000.00") and r.offset == D("3100.00")
    assert r.lines[0].refund == D("9100.00") and r.lines[0].not_refundable == D("0.00")


def test_unknown_regime_refused():
    with pytest.raises(TaxError, match="0214"):
        rebate_record(decl(regime="0214"), exchange_rate=D("7"))
