"""One entry, four agencies, end to end on a real database (SQLite and PostgreSQL): an order becomes
customs filings plus inspection, tax and FX records; the sandbox government's desks answer them
(AgencyReceipt) and customs issues the CEB816 tax bill of a CBEC inventory; the order is released
only when every agency released. Intake refuses what the goods or the limits do not allow, naming it,
and stores nothing. Arithmetic written out."""
from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from gateway.adapters.sandbox import SandboxScript
from gateway.declarations.agency_receipts import bill_amounts
from gateway.domain.problems import OrderInvalid
from gateway.service.replay import replay_order
from gateway.store import annual
from gateway.store import models as m
from tests.helpers import ROOT, add_tenant, fixture_json, fixture_text, make_gateway

EXPORT = ROOT / "fixtures" / "orders" / "export" / "valid"
GENERAL = ROOT / "fixtures" / "orders" / "general" / "valid"
ALL_RELEASED = {"customs": "released", "inspection": "released", "tax": "released", "fx": "released"}


@pytest.fixture
def gw(tmp_path, db_url, signing_key):
    gateway, _ = make_gateway(tmp_path, db_url, signing_key)
    return gateway


def count(gw, model):
    with gw.uow_factory() as uow:
        return uow.session.scalar(select(func.count()).select_from(model))


def history(view) -> dict[str, list[str]]:
    return {f["message_type"]: [r["status_code"] for r in f["receipts"]] for f in view["filings"]}


def copy_of(name: str, n: int) -> str:
    """The fixture as another order of the same buyer (fresh order, payment and waybill numbers)."""
    data = fixture_json(name)
    data["order_no"] += f"-{n}"
    data["payment"]["transaction_no"] += f"-{n}"
    data["logistics"]["waybill_no"] = data["logistics"]["waybill_no"][:-2] + f"{n:02d}"
    return json.dumps(data, ensure_ascii=False)


# -- a CBEC import order across the four agencies -------------------------------------------------------

def test_cbec_import_order_gets_customs_inspection_tax_and_fx_filings_all_released(gw):
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-six-lines.json"))
    with gw.uow_factory() as uow:
        agencies = {(f.message_type, f.agency, f.sequence) for f in uow.filings.for_order(tenant, sub.order_id)}
    assert agencies == {("CEB311Message", "customs", 1), ("CEB411Message", "customs", 1),
                        ("CEB511Message", "customs", 1), ("CEB621Message", "customs", 2),
                        ("InspectionRecord", "inspection", 2), ("FxRecord", "fx", 2), ("TaxRecord", "tax", 3)}
    assert gw.order(tenant, sub.order_id)["agencies"] == {
        "customs": "in_progress", "inspection": "in_progress", "tax": "in_progress", "fx": "in_progress"}
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert (view["status"], view["agencies"]) == ("released", ALL_RELEASED), view
    h = history(view)
    assert h["InspectionRecord"] == ["accepted", "released"] and h["FxRecord"] == ["accepted", "released"]
    assert h["TaxRecord"] == ["accepted", "1"]              # released by the CEB816 tax bill (status 1 已生成)
    # the inspection decision per line: food, nuts (quarantine + food), toothbrush (CCC), three lines without
    assert [(d["line"], d["legal_inspection"], d["requirements"]) for d in view["inspection"]["lines"]] == [
        (1, True, ["food"]), (2, True, ["quarantine", "food"]), (3, True, ["ccc", "commodity"]),
        (4, False, []), (5, False, []), (6, False, [])]
    # dutiable value 2,904.80 + freight 12.00 = 2,916.80; VAT only (9.1 % within the limits): 260.94 = withheld
    tax = view["tax"]
    assert (tax["dutiable_value"], tax["computed"], tax["withheld"], tax["difference"]) == (
        "2916.80", "260.94", "260.94", "0.00")
    assert tax["bill"]["total"] == "260.94" and tax["bill"]["matches"] is True and view["warnings"] == []
    assert (view["fx"]["bop_code"], view["fx"]["amount_cny"]) == ("121030", "3177.74")


def test_an_order_without_legally_inspected_goods_has_no_inspection_filing(gw):
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-at-single-limit.json"))       # one handbag
    assert set(sub.filing_ids) == {"CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message",
                                   "TaxRecord", "FxRecord"}
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "released" and view["agencies"] == {"customs": "released", "tax": "released",
                                                                 "fx": "released"}
    # 5,000.00 at 9.1 % = 455.00; the platform withheld nothing: a warning, not a refusal
    assert (view["tax"]["computed"], view["tax"]["withheld"], view["tax"]["difference"]) == ("455.00", "0", "-455.00")
    assert [w["rule"] for w in view["warnings"]] == ["tax-withheld-difference"]


def test_missing_inspection_data_is_refused_with_the_named_problem_and_nothing_is_stored(gw):
    tenant, _ = add_tenant(gw)
    data = fixture_json("9610-sea-australia.json")
    del data["lines"][2]["inspection"]["producer_registration"]           # macadamia nuts, P.R
    before = (count(gw, m.Order), count(gw, m.Filing), count(gw, m.OutboxItem), count(gw, m.BuyerAnnualAmount))
    with pytest.raises(OrderInvalid) as caught:
        gw.submit(tenant, json.dumps(data, ensure_ascii=False))
    assert [(p.path, p.rule) for p in caught.value.problems] == [
        ("$.lines[2].inspection.producer_registration", "inspection-food")]
    assert "line 3 (0802620000" in caught.value.problems[0].message
    assert (count(gw, m.Order), count(gw, m.Filing), count(gw, m.OutboxItem),
            count(gw, m.BuyerAnnualAmount)) == before


# -- the annual limit --------------------------------------------------------------------------------

def test_annual_limit_refused_across_two_orders_of_the_same_buyer(gw, signing_key):
    tenant, _ = add_tenant(gw)
    other, _ = add_tenant(gw, "Tenant B", cop_code="4601980XYZ")
    buyer = fixture_json("1210-at-single-limit.json")["buyer"]["id_number"]
    with gw.uow_factory() as uow:          # the buyer already bought for 16,500.00 through another provider
        annual.add(uow, buyer, 2026, D("16500.00"), "EARLIER-ORDER", tenant_id=other)
        uow.commit()
    first = gw.submit(tenant, copy_of("1210-at-single-limit.json", 1))
    with gw.uow_factory() as uow:          # 16,500.00 + 5,000.00 = 21,500.00, counted with the order
        assert annual.used(uow, buyer, 2026) == D("21500.00")
        assert [(e.order_id, e.amount) for e in annual.entries(uow, buyer, 2026)][1] == (first.order_id, "5000.00")
    # 21,500.00 + 5,000.00 = 26,500.00 > 26,000.00: the second order of the same buyer is refused at intake
    before = (count(gw, m.Order), count(gw, m.Filing), count(gw, m.BuyerAnnualAmount))
    with pytest.raises(OrderInvalid) as caught:
        gw.submit(tenant, copy_of("1210-at-single-limit.json", 2))
    [problem] = caught.value.problems
    assert (problem.path, problem.rule) == ("$.buyer.id_number", "cbec-annual-limit")
    assert "already used 21500.00 + this order 5000.00 = 26500.00" in problem.message
    assert (count(gw, m.Order), count(gw, m.Filing), count(gw, m.BuyerAnnualAmount)) == before
    # 16,500.00 + 5,000.00 + 4,500.00 = 26,000.00: exactly at the limit passes (one item of 4,500.00)
    smaller = json.loads(copy_of("1210-at-single-limit.json", 3))
    line = smaller["lines"][0]
    line["unit_price"] = line["total_price"] = smaller["goods_value"] = "4500.00"       # no freight, no insurance
    smaller["actual_paid"] = smaller["payment"]["amount"] = "4500.00"
    gw.submit(tenant, json.dumps(smaller, ensure_ascii=False))
    with gw.uow_factory() as uow:
        assert annual.used(uow, buyer, 2026) == D("26000.00")
    # a replay of the first order rebuilds its tax record with the amount used back then (16,500.00)
    report = replay_order(gw.uow_factory, first.order_id, key=signing_key)
    assert report.identical, report.lines()


def test_annual_limit_within_one_batch(gw):
    from gateway.service.orders import submit_batch

    tenant, _ = add_tenant(gw)
    buyer = fixture_json("1210-at-single-limit.json")["buyer"]["id_number"]
    with gw.uow_factory() as uow:
        annual.add(uow, buyer, 2026, D("16500.00"), "EARLIER-ORDER", tenant_id=tenant)
        uow.commit()
    items = submit_batch(gw.uow_factory, gw.declarer, gw.key, gw.clock, gw.ids, tenant,
                         [copy_of("1210-at-single-limit.json", n) for n in (1, 2)])
    # the second order of the batch sees the first: 16,500.00 + 5,000.00 + 5,000.00 = 26,500.00
    assert items[0].submitted is not None and isinstance(items[1].error, OrderInvalid)
    assert [p.rule for p in items[1].error.problems] == ["cbec-annual-limit"]
    with gw.uow_factory() as uow:
        assert annual.used(uow, buyer, 2026) == D("21500.00")


# -- the tax bill ---------------------------------------------------------------------------------------

def test_tax_bill_ceb816_is_applied_and_equals_our_computation_to_the_fen(gw):
    tenant, _ = add_tenant(gw)
    wine = gw.submit(tenant, fixture_text("9610-sea-france-wine.json"))
    coupon = gw.submit(tenant, fixture_text("1210-coupon-discount.json"))
    gw.dispatcher.run_until_idle()
    with gw.uow_factory() as uow:
        events = {}
        for sub in (wine, coupon):
            tax = uow.filings.get(tenant, sub.filing_ids["TaxRecord"])
            [event] = uow.session.scalars(select(m.ReceiptEvent).where(
                m.ReceiptEvent.filing_id == tax.id, m.ReceiptEvent.message_type == "CEB816Message")).all()
            events[sub.order_id] = (tax.state, event.outcome, json.loads(event.parsed))
    state, outcome, fields = events[wine.order_id]
    assert (state, outcome, fields["status"]) == ("released", "applied", "1")
    amounts = bill_amounts(fields)
    # dutiable value 1,428.00 + 60.00 + 5.00 = 1,493.00; wine: CT 10 %, VAT 13 %, 70 % within the limits
    #   CT  = 0.7 x 1,493.00 / 0.9 x 0.1 = 116.1222... -> 116.12
    #   VAT = 0.7 x (1,493.00 + 165.8888...) x 0.13 = 150.9588... -> 150.96
    assert (amounts["duty"], amounts["consumption_tax"], amounts["vat"], amounts["total"]) == (
        D("0.00"), D("116.12"), D("150.96"), D("267.08"))
    assert amounts["lines"][1] == {"taxPrice": D("1493.00"), "customsTax": D("0.00"),
                                   "valueAddedTax": D("150.96"), "consumptionTax": D("116.12")}
    view = gw.order(tenant, wine.order_id)
    assert (view["tax"]["computed"], view["tax"]["bill"]["total"], view["tax"]["bill"]["difference"]) == (
        "267.08", "267.08", "0.00")
    # the withheld 267.10 differs from ours by 0.02: shown, not refused
    assert view["tax"]["difference"] == "0.02" and [w["rule"] for w in view["warnings"]] == ["tax-withheld-difference"]
    # the coupon order: customs taxes the values the inventory declares (no discount), like we do
    coupon_view = gw.order(tenant, coupon.order_id)
    assert coupon_view["tax"]["bill"]["matches"] is True
    assert coupon_view["tax"]["bill"]["total"] == coupon_view["tax"]["computed"] == "176.92"


def test_a_tax_bill_for_an_unknown_inventory_is_unmatched(gw):
    from gateway.service.dispatch import RoundResult

    bill = (b'<?xml version="1.0"?><CEB816Message xmlns="http://www.chinaport.gov.cn/ceb" guid="G" version="1.0">'
            b"<Tax><TaxHeadRd><guid>X</guid><returnTime>20261121100000000</returnTime><invtNo>99992026I000000001"
            b"</invtNo><taxNo>T1</taxNo><customsTax>0</customsTax><valueAddedTax>1.00</valueAddedTax>"
            b"<consumptionTax>0</consumptionTax><status>1</status></TaxHeadRd><TaxListRd><gnum>1</gnum>"
            b"<gcode>3304990099</gcode><taxPrice>11</taxPrice><customsTax>0</customsTax><valueAddedTax>1.00"
            b"</valueAddedTax><consumptionTax>0</consumptionTax></TaxListRd></Tax></CEB816Message>")
    r = RoundResult()
    gw.dispatcher.ingest("sandbox", bill, "t1", gw.clock.now(), r)
    assert r.unmatched == 1
    with gw.uow_factory() as uow:
        [raw] = uow.session.scalars(select(m.Receipt)).all()
        assert raw.outcome == "unmatched" and "tax-bill:99992026I000000001" in raw.info


# -- the agencies' answers ----------------------------------------------------------------------------

def test_scripted_inspection_goes_through_the_inspection_step(tmp_path, db_url, signing_key):
    order_no = fixture_json("9610-air-germany-x-id.json")["order_no"]
    gw, _ = make_gateway(tmp_path, db_url, signing_key, script=SandboxScript().inspect(order_no))
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("9610-air-germany-x-id.json"))
    seen = set()
    for _ in range(30):
        gw.dispatcher.run_once()
        view = gw.order(tenant, sub.order_id)
        seen.add(view["agencies"].get("inspection"))
        if view["status"] != "in_progress":
            break
    h = history(view)
    assert view["status"] == "released" and view["agencies"] == ALL_RELEASED
    assert h["InspectionRecord"] == ["accepted", "inspection", "released"]      # 一次查验: one inspection
    assert h["CEB621Message"] == ["2", "120", "500", "399", "800"]
    assert "in_progress" in seen


def test_an_inspection_refusal_rejects_the_order_with_its_reason(tmp_path, db_url, signing_key):
    order_no = fixture_json("1210-gift-line.json")["order_no"]
    script = SandboxScript().reject(order_no, "标签不合格 (label not compliant)", on="InspectionRecord")
    gw, _ = make_gateway(tmp_path, db_url, signing_key, script=script)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-gift-line.json"))
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "rejected" and view["agencies"]["inspection"] == "rejected"
    assert view["agencies"]["customs"] == "released"          # customs released; the order is not
    assert "InspectionRecord: [rejected] 标签不合格" in view["status_reason"]
    # no tax record after a refused inspection: held back
    assert "TaxRecord: not sent: InspectionRecord of the same order was rejected" in view["status_reason"]


def test_a_refused_inventory_gets_no_tax_bill_and_the_tax_record_is_rejected(tmp_path, db_url, signing_key):
    order_no = fixture_json("1210-single-line.json")["order_no"]
    script = SandboxScript().reject(order_no, "商品归类有误 (wrong classification)")      # the inventory
    gw, _ = make_gateway(tmp_path, db_url, signing_key, script=script)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "rejected" and view["agencies"]["tax"] == "rejected"
    assert history(view)["TaxRecord"] == ["accepted", "rejected"]
    assert "商品归类有误" in view["status_reason"] and "no tax bill" in view["status_reason"]
    assert view["tax"]["bill"] is None


# -- the other regimes ------------------------------------------------------------------------------

def test_general_trade_and_export_orders_reach_released_across_their_agencies(gw):
    tenant, _ = add_tenant(gw)
    gt_import = gw.submit(tenant, (GENERAL / "gt-import-wine.json").read_text("utf-8"))
    gt_export = gw.submit(tenant, (GENERAL / "gt-export-apparel.json").read_text("utf-8"))
    export = gw.submit(tenant, (EXPORT / "9610-summary-sea-germany.json").read_text("utf-8"))
    gw.dispatcher.run_until_idle()
    views = {name: gw.order(tenant, sub.order_id) for name, sub in
             (("gt_import", gt_import), ("gt_export", gt_export), ("export", export))}
    assert {name: (v["status"], v["agencies"]) for name, v in views.items()} == {
        # general trade: the inspection data travels inside the DecMessage (no inspection filing)
        "gt_import": ("released", {"customs": "released", "tax": "released", "fx": "released"}),
        "gt_export": ("released", {"customs": "released", "tax": "released", "fx": "released"}),
        "export": ("released", ALL_RELEASED),
    }
    assert history(views["gt_import"])["TaxRecord"] == ["accepted", "released"]
    # wine: CIF = FOB 47,100.00 + freight 2,150.00 + insurance 0.3 % x 49,250.00 = 147.75 -> EUR 49,397.75;
    # x 8.2128 (placeholder rate, 2026-11) = CNY 405,693.84 as customs value
    assert views["gt_import"]["tax"]["customs_value"] == "405693.84"
    assert views["gt_import"]["inspection"]["lines"][0]["requirements"] == ["food"]
    assert views["gt_export"]["tax"]["kind"] == "export-rebate"
    assert (views["export"]["fx"]["bop_code"], views["export"]["fx"]["currency"]) == ("121990", "EUR")


# -- `gateway declare --agencies` ------------------------------------------------------------------

def test_gateway_declare_writes_the_agency_records_on_request(tmp_path, capfd):
    from lxml import etree

    from gateway import cli, schemas
    from gateway.signing import verify

    order = ROOT / "fixtures" / "orders" / "valid" / "1210-six-lines.json"
    instance = str(tmp_path / "instance")
    assert cli.main(["declare", str(order), "--out", str(tmp_path / "customs"), "--instance", instance]) == 0
    assert sorted(p.stem for p in (tmp_path / "customs").glob("*.xml")) == [
        "CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message"]           # customs only, as before
    assert cli.main(["declare", str(order), "--out", str(tmp_path / "all"), "--agencies", "--instance", instance]) == 0
    files = sorted((tmp_path / "all").glob("*.xml"))
    assert [p.stem for p in files] == ["CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message",
                                       "FxRecord", "InspectionRecord", "TaxRecord"]
    for path in files:
        data = path.read_bytes()
        verify(data)
        assert schemas.validate(etree.fromstring(data)) == []
    capfd.readouterr()


def test_a_buyer_counted_by_another_submission_meanwhile_is_assessed_again(gw):
    from gateway.service.declare import Declarer
    from gateway.service.orders import submit_batch

    tenant, _ = add_tenant(gw)
    buyer = fixture_json("1210-at-single-limit.json")["buyer"]["id_number"]

    class Meanwhile(Declarer):
        """While this order is built (outside any transaction), another submission counts 21,000.01 CNY
        for the same buyer and commits."""

        def __init__(self, inner):
            super().__init__(inner.signer, inner.ids, inner.signers)
            self.builds = 0

        def prepare(self, order, **kw):      # batch intake builds with prepare, then signs (sign_prepared)
            self.builds += 1
            if self.builds == 1:
                with gw.uow_factory() as uow:
                    annual.add(uow, buyer, 2026, D("21000.01"), "CONCURRENT", tenant_id=tenant)
                    uow.commit()
            return super().prepare(order, **kw)

    declarer = Meanwhile(gw.declarer)
    [item] = submit_batch(gw.uow_factory, declarer, gw.key, gw.clock, gw.ids, tenant,
                          [fixture_text("1210-at-single-limit.json")])
    # read 0.00 -> built -> the storing transaction finds 21,000.01 -> assessed again:
    # 21,000.01 + 5,000.00 = 26,000.01 > 26,000.00: refused, nothing stored
    assert declarer.builds == 1 and isinstance(item.error, OrderInvalid)
    assert [p.rule for p in item.error.problems] == ["cbec-annual-limit"]
    assert count(gw, m.Order) == 0
    with gw.uow_factory() as uow:
        assert annual.used(uow, buyer, 2026) == D("21000.01")
