"""The sandbox's own customs and tax rules (gateway/adapters/sandbox/policy.py, taxbill.py): a second
reading of the regulation that can disagree with the gateway, and the gateway notices when it does."""
from __future__ import annotations

from decimal import Decimal as D

from gateway.adapters.sandbox import SandboxScript
from tests.helpers import add_tenant, fixture_json, fixture_text, make_gateway


def test_a_tax_bill_that_differs_from_our_quote_is_flagged(tmp_path, db_url, signing_key):
    order_no = fixture_json("9610-sea-france-wine.json")["order_no"]
    gw, _ = make_gateway(tmp_path, db_url, signing_key, script=SandboxScript().misbill(order_no, "1.25"))
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("9610-sea-france-wine.json"))
    gw.dispatcher.run_until_idle()
    bill = gw.order(tenant, sub.order_id)["tax"]["bill"]
    # ours: CT 116.12 + VAT 150.96 = 267.08 (test_agencies_flow); customs billed 1.25 more VAT
    assert (bill["vat"], bill["total"], bill["difference"], bill["matches"]) == ("152.21", "268.33", "1.25", False)


def test_a_true_tax_bill_matches_our_quote(tmp_path, db_url, signing_key):
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("9610-sea-france-wine.json"))
    gw.dispatcher.run_until_idle()
    bill = gw.order(tenant, sub.order_id)["tax"]["bill"]
    assert (bill["total"], bill["difference"], bill["matches"]) == ("267.08", "0.00", True)


def test_misbill_takes_an_amount_in_fen():
    assert SandboxScript().misbill("A", "-0.01").misbilled_vat("A") == D("-0.01")
    assert SandboxScript().misbilled_vat("A") == 0
    for bad in ("0", "1.234", "x", "NaN"):
        try:
            SandboxScript().misbill("A", bad)
        except ValueError:
            continue
        raise AssertionError(f"misbill accepted {bad!r}")
