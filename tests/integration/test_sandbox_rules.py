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


# -- the annual limit, the sandbox's own ledger (gateway/adapters/sandbox/rules.py, policy.py) -----------

def _inventory(cop_no: str, total: str, day: str, buyer: str = "110105199003071239"):
    from gateway.adapters.sandbox.documents import Filing

    return Filing("CEB621Message", f"m-{cop_no}", {
        "orderNo": f"O-{cop_no}", "ebpCode": "E", "copNo": cop_no, "appType": "1", "freight": "0",
        "insuredFee": "0", "declTime": f"{day}090000", "buyerIdNumber": buyer},
        [{"gnum": "1", "gcode": "4202210090", "qty": "1", "totalPrice": total}])


def _annual_verdict(registry, inventory):
    from gateway.adapters.sandbox.rules import judge

    verdict = judge(inventory, registry)
    return verdict.status if verdict is not None and verdict.by_eport else None


def test_the_sandbox_refuses_what_crosses_the_buyers_annual_limit_and_gives_back_cancellations():
    from gateway.adapters.sandbox.rules import Registry

    registry = Registry()
    first = _inventory("C1", "20000.00", "20261101")          # one item over the single limit: passes, counts
    assert _annual_verdict(registry, first) is None
    registry.register(first)
    assert _annual_verdict(registry, _inventory("C2", "6000.01", "20261102")) == "-621018"   # 26,000.01
    assert _annual_verdict(registry, _inventory("C3", "6000.00", "20261102")) is None        # 26,000.00
    assert _annual_verdict(registry, _inventory("C4", "6000.01", "20270102")) is None        # another year
    assert _annual_verdict(registry, _inventory("C5", "6000.01", "20261102", buyer="X1")) is None
    registry.give_back(first)                                  # cancelled (CEB623 concluded)
    assert _annual_verdict(registry, _inventory("C2", "6000.01", "20261102")) is None


def test_the_annual_limit_before_2019_was_20000():
    from gateway.adapters.sandbox.rules import Registry

    registry = Registry()
    for n in range(10):                                       # ten of 1,999.00 (under the 2,000 single limit)
        inventory = _inventory(f"C{n}", "1999.00", "20181201")
        assert _annual_verdict(registry, inventory) is None
        registry.register(inventory)
    assert _annual_verdict(registry, _inventory("C10", "10.01", "20181202")) == "-621018"   # 19,990 + 10.01
    assert _annual_verdict(registry, _inventory("C11", "10.00", "20181202")) is None
