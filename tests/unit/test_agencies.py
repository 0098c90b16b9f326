"""One entry, four agencies (gateway.domain.agencies, planning, status; the agency receipts): what
inspection, tax and FX make of an order, what refuses it at intake and what only warns, the filings
planned, and the receipts of the agencies (AgencyReceipt, CEB816/818). Arithmetic written out."""
from __future__ import annotations

import json
from datetime import UTC, date
from decimal import Decimal as D
from pathlib import Path

import pytest
from lxml import etree

from gateway import schemas
from gateway.adapters.sandbox.agency_desk import AgencyDesk, _Record, agency_receipt
from gateway.adapters.sandbox.documents import Filing
from gateway.adapters.sandbox.script import SandboxScript
from gateway.declarations.agency_receipts import bill_amounts
from gateway.declarations.receipts import ReceiptUnreadable, parse_receipt
from gateway.domain import status as st
from gateway.domain.agencies import assess
from gateway.domain.parse import parse_order
from gateway.domain.planning import plan_agencies, plan_all
from gateway.domain.problems import OrderInvalid

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "orders"
ON = date(2026, 11, 20)


def order(name: str, folder: str = "valid", **changes):
    data = json.loads((FIXTURES / folder / name).read_text("utf-8"))
    data.update(changes)
    return parse_order(data, on=ON)


def refusal(o, **kw) -> list[tuple[str, str]]:
    with pytest.raises(OrderInvalid) as caught:
        assess(o, declared_on=ON, **kw)
    return [(p.path, p.rule) for p in caught.value.problems]


# -- tax ---------------------------------------------------------------------------------------------

def test_cbec_tax_at_the_order_date_and_the_withheld_difference_is_a_warning():
    # 9610-sea-france-wine: goods 1,428.00 + freight 60.00 + insurance 5.00 = dutiable value 1,493.00
    # wine: consumption tax 10 %, VAT 13 %, levied at 70 % within the limits
    #   CT  = 0.7 x 1,493.00 / (1 - 0.10) x 0.10            = 116.1222... -> 116.12
    #   VAT = 0.7 x (1,493.00 + 1,493.00 / 0.9 x 0.1) x 0.13 = 150.9588... -> 150.96
    a = assess(order("9610-sea-france-wine.json"), declared_on=ON)
    q = a.tax
    assert q.assessed_on == date(2026, 11, 17) and q.dutiable_value == D("1493.00")
    assert (q.duty, q.consumption_tax, q.vat, q.total) == (D("0.00"), D("116.12"), D("150.96"), D("267.08"))
    assert [(w.path, w.rule) for w in a.warnings] == [("$.tax_withheld", "tax-withheld-difference")]
    assert "267.10 ≠ computed 267.08 (difference 0.02" in a.warnings[0].message       # withheld 0.02 too much
    assert (a.annual_used, a.annual_counted, a.annual_year) == (D("0"), D("1493.00"), 2026)


def test_a_discount_not_reflected_in_the_line_prices_is_said_at_intake():
    """The inventory declares the line prices and no discount: customs taxes those (176.92 for the coupon
    order, not 166.82 with the discount deducted), and the order is told so."""
    a = assess(order("1210-coupon-discount.json"), declared_on=ON)
    assert a.tax.total == D("176.92") and a.annual_counted == D("876.00")
    rules = [(w.path, w.rule) for w in a.warnings]
    assert ("$.discount", "discount-not-in-prices") in rules
    assert "discount of 50.00 is not reflected in the line prices" in a.warnings[rules.index(
        ("$.discount", "discount-not-in-prices"))].message
    plain = assess(order("9610-sea-france-wine.json"), declared_on=ON)       # no discount: no such warning
    assert "discount-not-in-prices" not in [w.rule for w in plain.warnings]


def test_annual_limit_refuses_at_intake_exactly_above_26000():
    o = order("1210-at-single-limit.json")                 # dutiable value 5,000.00
    # 21,000.00 already used + 5,000.00 = 26,000.00: at the limit, accepted and counted
    assert assess(o, declared_on=ON, annual_used=D("21000.00")).annual_counted == D("5000.00")
    # 21,000.01 + 5,000.00 = 26,000.01 > 26,000: refused, named
    assert refusal(o, annual_used=D("21000.01")) == [("$.buyer.id_number", "cbec-annual-limit")]
    with pytest.raises(OrderInvalid) as caught:
        assess(o, declared_on=ON, annual_used=D("21000.01"))
    assert "annual limit 26000 CNY" in caught.value.problems[0].message
    assert "already used 21000.01 + this order 5000.00 = 26000.01" in caught.value.problems[0].message


def test_over_the_single_limit_is_held():
    # 9610-over-single-limit: two lines, 5,311.00 > 5,000: customs would refuse it (-621005): held at intake
    o = order("9610-over-single-limit.json")
    a = assess(o, declared_on=ON)
    assert a.tax is None and a.annual_counted is None and a.warnings == ()
    assert [(h.path, h.rule) for h in a.holds] == [("$.goods_value", "cbec-single-limit")]
    assert "5311.00" in a.holds[0].message and "−621005" in a.holds[0].message and "held" in a.holds[0].message
    assert a.as_json()["holds"][0]["rule"] == "cbec-single-limit"
    assert [p.message_type for p in plan_agencies(o, a)] == ["FxRecord"]


def test_unknown_hs_code_still_counts_and_checks_the_annual_limit():
    data = json.loads((FIXTURES / "valid" / "1210-single-line.json").read_text("utf-8"))
    data["lines"][0]["hs_code"] = "0902109000"                 # not in the reference data
    o = parse_order(data)
    a = assess(o, declared_on=ON)
    assert a.tax is None and {w.rule for w in a.warnings} == {"inspection-unknown-hs", "tax-not-computed"}
    assert a.annual_counted == D("398.00")                      # goods + freight + insurance - discount
    # 25,602.01 + 398.00 = 26,000.01 > 26,000
    assert refusal(o, annual_used=D("25602.01")) == [("$.buyer.id_number", "cbec-annual-limit")]


def test_general_trade_import_tax_at_the_declaration_date():
    a = assess(order("gt-import-infant-formula.json", "general/valid"), declared_on=ON)
    q = a.tax
    # CIF EUR 236,400.00 x 8.2128 (placeholder customs rate of 2026-11) = 1,941,505.92 CNY
    assert (q.currency, q.rate.cny_per_unit, q.customs_value) == ("EUR", D("8.2128"), D("1941505.92"))
    # duty 15 % = 291,225.888 -> 291,225.89; VAT 13 % x (1,941,505.92 + 291,225.888) = 290,255.135... -> .14
    assert (q.duty, q.vat) == (D("291225.89"), D("290255.14"))
    assert a.tax_record_type == "TaxRecord" and a.fx.channel == "bank" and a.fx.bop_code == "121010"


def test_export_rebate_data_and_special_zone_exports_have_none():
    a = assess(order("9610-simplified-air-usa.json", "export/valid"), declared_on=ON)
    assert a.tax_record_type == "RebateRecord" and a.tax.outcome == "not-eligible"
    # FOB USD 51.98 x 7.0800 = 368.0184 -> 368.02 CNY
    assert a.tax.fob_cny == D("368.02")
    # 1239 special-zone export: the goods left the tax territory when they entered the zone
    zone_order = order("1239-special-zone-korea.json", "export/valid")
    zone = assess(zone_order, declared_on=ON)
    assert zone.tax is None and [p.message_type for p in plan_agencies(zone_order, zone)] == ["FxRecord"]


# -- FX ----------------------------------------------------------------------------------------------

def test_fx_record_of_a_cbec_import_at_the_declaration_date():
    a = assess(order("1210-single-line.json"), declared_on=ON)
    fx = a.fx
    # CNY 434.22 paid through the payment company; USD 434.22 / 7.0800 = 61.3305... -> 61.33
    assert (fx.bop_code, fx.channel, fx.aggregate_code, fx.amount_cny, fx.usd_equivalent) == (
        "121030", "payment_institution", "999999", D("434.22"), D("61.33"))
    assert fx.declared_on == ON


def test_payment_institution_limit_refuses_at_intake():
    data = json.loads((FIXTURES / "export" / "valid" / "9610-simplified-air-usa.json").read_text("utf-8"))
    line = data["lines"][0]
    line["unit_price"], line["total_price"] = "30000.00", "60000.00"          # 2 x 30,000.00
    data["goods_value"] = "60000.00"
    data["payment"]["amount"] = "60006.50"                                      # + freight 6.50
    o = parse_order(data)
    # USD 60,006.50 through PayPal (a payment institution) > USD 50,000.00 per transaction
    assert refusal(o) == [("$.payment.amount", "fx-payment-institution-limit")]


def test_no_customs_rate_for_the_declaration_month_refuses_with_the_reason():
    with pytest.raises(OrderInvalid) as caught:
        assess(order("1210-single-line.json"), declared_on=date(2031, 1, 5))
    assert [(p.path, p.rule) for p in caught.value.problems] == [("$", "fx-rate")]
    assert "2031-01" in caught.value.problems[0].message


# -- planning and status --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, folder, agencies", [
    ("1210-single-line.json", "valid", [("InspectionRecord", 2), ("TaxRecord", 3), ("FxRecord", 2)]),
    ("1210-at-single-limit.json", "valid", [("TaxRecord", 3), ("FxRecord", 2)]),     # a handbag: no inspection
    ("9610-summary-sea-germany.json", "export/valid", [("InspectionRecord", 2), ("RebateRecord", 3), ("FxRecord", 2)]),
    ("gt-import-wine.json", "general/valid", [("TaxRecord", 2), ("FxRecord", 1)]),   # CIQ data inside the DecMessage
    ("gt-export-apparel.json", "general/valid", [("RebateRecord", 2), ("FxRecord", 1)]),
])
def test_agency_filings_planned(name, folder, agencies):
    # inspection and FX go with the inventory (CBEC, sequence 2) or the declaration (general trade, 1) and
    # never hold back customs' documents; the tax record follows the document it taxes
    o = order(name, folder)
    planned = plan_all(o, assess(o, declared_on=ON))
    assert [(p.message_type, p.sequence) for p in planned if p.agency != "customs"] == agencies


def test_order_released_only_when_every_agency_released():
    views = [st.FilingView("CEB621Message", "customs", st.RELEASED), st.FilingView("TaxRecord", "tax", st.ACCEPTED),
             st.FilingView("FxRecord", "fx", st.RELEASED), st.FilingView("InspectionRecord", "inspection", st.INSPECTION)]
    assert st.combined_status(views)[0] == st.IN_PROGRESS
    assert st.per_agency(views) == {"customs": "released", "fx": "released", "inspection": "in_progress",
                                    "tax": "in_progress"}
    done = [st.FilingView(v.message_type, v.agency, st.RELEASED) for v in views]
    assert st.combined_status(done) == (st.ORDER_RELEASED, None)
    rejected = done[:3] + [st.FilingView("InspectionRecord", "inspection", st.REJECTED, "lacks batchNo")]
    assert st.combined_status(rejected) == (st.ORDER_REJECTED, "InspectionRecord: lacks batchNo")


def test_agency_receipt_and_tax_bill_states():
    assert [st.state_for("AgencyReceipt", c) for c in ("accepted", "inspection", "released", "rejected")] == [
        st.ACCEPTED, st.INSPECTION, st.RELEASED, st.REJECTED]
    assert [st.state_for("CEB816Message", c) for c in ("1", "2", "3")] == [st.RELEASED, st.RELEASED, st.DECLARED]
    assert st.is_done("TaxRecord", st.RELEASED) and not st.is_done("TaxRecord", st.ACCEPTED)


# -- receipts ---------------------------------------------------------------------------------------

def test_agency_receipt_round_trip():
    record = _Record("6E0B1C2D-0000-4000-8000-00000000000A", "InspectionRecord", "inspection", "ORD-1", [])
    body = agency_receipt("6E0B1C2D-0000-4000-8000-0000000000FF",
                          [("6E0B1C2D-0000-4000-8000-0000000000F1", record, "inspection", "查验", "20261120100005000")])
    assert schemas.validate(etree.fromstring(body)) == []
    [entry] = parse_receipt(body)
    assert (entry.message_type, entry.answers, entry.business_key, entry.status_code, entry.status_time) == (
        "AgencyReceipt", "InspectionRecord", "message:6E0B1C2D-0000-4000-8000-00000000000A", "inspection",
        "20261120100005000")
    with pytest.raises(ReceiptUnreadable):
        parse_receipt(body.replace(b"<status>inspection</status>", b"<status>maybe</status>"))


def _inventory(**head) -> Filing:
    lines = [{"gnum": "1", "gcode": "2204210000", "totalPrice": "1428.00", "qty": "6", "unit": "142",
              "qty1": "4.5", "unit1": "095"}]
    base = {"ebpCode": "P1", "orderNo": "O1", "freight": "60.00", "insuredFee": "5.00", "customsCode": "4227",
            "declTime": "20261117", "assureCode": "G1", "ebcCode": "E1", "logisticsCode": "L1", "agentCode": "A1"}
    return Filing("CEB621Message", "M1", {**base, **head}, lines)


class _Registry:
    def __init__(self, discount="0", pay_time="20261117184100"):
        self.orders = {("P1", "O1"): Filing("CEB311Message", "M0", {"discount": discount})}
        self.payments_by_order = {("O1", "P1"): Filing("CEB411Message", "M0", {"payTime": pay_time})}


def test_the_sandbox_tax_bill_uses_the_same_rules_and_parses_back():
    ids = iter(f"6E0B1C2D-0000-4000-8000-{n:012d}" for n in range(1, 10))
    desk = AgencyDesk(SandboxScript())
    from datetime import datetime
    body = desk.tax_bill(_inventory(), "42272026I000000005", _Registry(), datetime(2026, 11, 20, tzinfo=UTC),
                         lambda: next(ids))
    assert schemas.validate(etree.fromstring(body)) == []        # gateway/schemas/ceb-tax.xsd
    [entry] = parse_receipt(body)
    assert (entry.message_type, entry.answers, entry.business_key, entry.status_code) == (
        "CEB816Message", "TaxRecord", "tax-bill:42272026I000000005", "1")
    amounts = bill_amounts(entry.fields)
    # the wine of the test above: 1,493.00 dutiable, CT 116.12, VAT 150.96
    assert (amounts["duty"], amounts["consumption_tax"], amounts["vat"], amounts["total"]) == (
        D("0.00"), D("116.12"), D("150.96"), D("267.08"))
    assert amounts["lines"][1]["taxPrice"] == D("1493.00")


def test_tax_bill_status_and_unreadable_bills():
    status = (b'<?xml version="1.0"?><CEB818Message xmlns="http://www.chinaport.gov.cn/ceb" guid="G" version="1.0">'
              b"<Tax><TaxHeadStatus><guid>X</guid><returnTime>20261121100000000</returnTime><invtNo>I1</invtNo>"
              b"<taxNo>T1</taxNo><status>2</status><entDutyNo>D1</entDutyNo></TaxHeadStatus></Tax></CEB818Message>")
    [entry] = parse_receipt(status)
    assert (entry.business_key, entry.status_code, entry.info) == ("tax-bill:I1", "2", "taxNo T1 status 2 entDutyNo D1")
    broken = (b'<CEB816Message xmlns="http://www.chinaport.gov.cn/ceb" guid="G" version="1.0"><Tax><TaxHeadRd>'
              b"<invtNo>I1</invtNo><taxNo>T1</taxNo><customsTax>x</customsTax><valueAddedTax>1</valueAddedTax>"
              b"<consumptionTax>0</consumptionTax><status>1</status></TaxHeadRd></Tax></CEB816Message>")
    with pytest.raises(ReceiptUnreadable, match="customsTax 'x' is not a decimal"):
        parse_receipt(broken)
