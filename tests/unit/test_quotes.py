"""The tax and FX record of one order of any format (gateway.domain.quotes.tax_quote,
gateway.domain.fx.fx_record_for_order): what ``gateway tax quote`` and ``gateway fx record`` print.

Every valid fixture of every format (CBEC import, CBEC export, general trade) gets a quote or a clear
refusal (a domain exception with a message), never an AttributeError or another crash."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.domain.cbec_export.order import ExportOrder
from gateway.domain.cbec_import.order import Order
from gateway.domain.common.dates import order_date
from gateway.domain.fx import FxError, fx_record_for_order
from gateway.domain.general_trade.order import GtOrder
from gateway.domain.parse import parse_order
from gateway.domain.quotes import NotTaxed, tax_quote
from gateway.domain.tax.cbec import CbecRefused
from gateway.domain.tax.common import TaxError
from gateway.domain.tax.rulesets import NoRuleSet
from gateway.reference import ReferenceDataError

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("fixtures/orders/valid", "fixtures/orders/export/valid", "fixtures/orders/general/valid")
FIXTURES = sorted(p for folder in FOLDERS for p in (ROOT / folder).glob("*.json"))
REFUSALS = (TaxError, ReferenceDataError, NoRuleSet)      # domain exceptions, each with a message


def order_of(name: str):
    return parse_order(next(p for p in FIXTURES if p.name == name).read_text("utf-8"))


def test_every_format_has_fixtures():
    kinds = {type(parse_order(p.read_text("utf-8"))) for p in FIXTURES}
    assert kinds == {Order, ExportOrder, GtOrder}


@pytest.mark.parametrize("as_general_trade", [False, True])
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_every_fixture_gets_a_quote_or_a_clear_refusal(path, as_general_trade):
    order = parse_order(path.read_text("utf-8"))
    try:
        data = tax_quote(order, as_general_trade=as_general_trade)
    except REFUSALS as exc:
        assert str(exc), path.name
        return
    assert data["order_no"] == order.order_no
    assert data["kind"] in ("cbec-import", "general-import", "export-rebate")
    json.dumps(data)                                       # money as strings: JSON as it stands


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_every_fixture_gets_an_fx_record_or_a_clear_refusal(path):
    order = parse_order(path.read_text("utf-8"))
    try:
        record = fx_record_for_order(order)
    except (FxError, *REFUSALS) as exc:
        assert str(exc), path.name
        return
    assert record.reference == order.order_no and record.amount > 0
    json.dumps(record.as_json())


def test_every_fixture_has_an_order_date():
    # the export orders used to fail here: ``'ReceivedPayment' object has no attribute 'paid_at'``
    for path in FIXTURES:
        assert isinstance(order_date(parse_order(path.read_text("utf-8"))), date), path.name


def test_the_quote_follows_the_format():
    assert tax_quote(order_of("1210-coupon-discount.json"))["kind"] == "cbec-import"
    assert tax_quote(order_of("1210-coupon-discount.json"), as_general_trade=True)["kind"] == "general-import"
    wine = tax_quote(order_of("gt-import-wine.json"))
    assert wine["kind"] == "general-import" and wine["order_no"] == "WINE20261118000001"
    assert Decimal(wine["totals"]["total"]) > 0
    assert tax_quote(order_of("gt-export-apparel.json"))["kind"] == "export-rebate"
    rebate = tax_quote(order_of("9610-simplified-air-usa.json"))
    assert rebate["kind"] == "export-rebate" and rebate["regime"] == "9610"


def test_refusals_say_why():
    with pytest.raises(NotTaxed, match="special-zone export"):
        tax_quote(order_of("1210-special-zone-japan.json"))
    with pytest.raises(CbecRefused, match="single-transaction limit"):
        tax_quote(order_of("9610-over-single-limit.json"))
    with pytest.raises(ReferenceDataError, match="6204430090"):       # the reference data lacks this HS code
        tax_quote(order_of("9610-multi-line-mail-uk.json"))


def test_fx_record_of_each_format_uses_its_transaction_code():
    assert fx_record_for_order(order_of("1210-single-line.json")).bop_code == "121030"
    assert fx_record_for_order(order_of("9610-simplified-air-usa.json")).currency == "USD"
    gt = fx_record_for_order(order_of("gt-import-wine.json"), declared_on=date(2026, 11, 20))
    assert (gt.bop_code, gt.currency, gt.channel, gt.declared_on) == ("121010", "EUR", "bank", date(2026, 11, 20))
