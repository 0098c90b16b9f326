"""The buyer's CBEC annual amount is given back when customs refuses the order's inventory (the order
becomes ``rejected``) and when the inventory is cancelled (CEB623 concluded), as for a whole return:
once, audited, and not again for a duplicate receipt. Real database (SQLite and PostgreSQL), the
in-process sandbox government and the dispatcher run in-process."""
import json
from decimal import Decimal

import pytest

from gateway.adapters.sandbox import SandboxScript
from gateway.service.corrections import CorrectionService
from gateway.store import annual
from tests.helpers import add_tenant, fixture_json, fixture_text, make_gateway

BUYER = "110105199003071239"          # 1210-single-line.json: buyer 张伟
ORDER_NO = fixture_json("1210-single-line.json")["order_no"]


def ledger(gw, order_id):
    with gw.uow_factory() as uow:
        return ([(e.kind, e.amount) for e in annual.entries(uow, BUYER, 2026) if e.order_id == order_id],
                annual.used(uow, BUYER, 2026))


def releases(gw, order_id):
    with gw.uow_factory() as uow:
        return [json.loads(e.detail) if isinstance(e.detail, str) else e.detail
                for e in uow.audit.for_subject("order", order_id) if e.action in ("annual.restored", "annual.kept")]


@pytest.mark.parametrize("duplicates", [False, True], ids=["once", "duplicate-receipts"])
def test_a_customs_refusal_of_the_inventory_gives_the_amount_back_once(tmp_path, db_url, signing_key, duplicates):
    script = SandboxScript().reject(ORDER_NO, "申报价格与实际不符 (declared price wrong)")
    if duplicates:
        script.duplicate_receipts()
    gw, _ = make_gateway(tmp_path, db_url, signing_key, script=script)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    assert ledger(gw, sub.order_id) == ([("counted", "398.00")], Decimal("398.00"))    # counted at submission
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "rejected", view
    entries, after = ledger(gw, sub.order_id)
    assert entries == [("counted", "398.00"), ("restored", "-398.00")]
    assert after == Decimal("0.00")
    [event] = releases(gw, sub.order_id)
    assert event["why"] == "rejected" and event["amount"] == "-398.00"
    assert "declared price wrong" in event["info"]
    gw.dispatcher.run_until_idle()                                    # nothing more to apply: still once
    assert ledger(gw, sub.order_id)[0] == entries and len(releases(gw, sub.order_id)) == 1


def test_a_cancelled_order_gives_the_amount_back_once(tmp_path, db_url, signing_key):
    gw, _ = make_gateway(tmp_path, db_url, signing_key, script=SandboxScript().duplicate_receipts())
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    assert ledger(gw, sub.order_id) == ([("counted", "398.00")], Decimal("398.00"))   # released: still counted
    CorrectionService.for_gateway(gw).cancel_inventory(tenant, sub.order_id, "买家取消订单，商品未出区")
    assert ledger(gw, sub.order_id)[1] == Decimal("398.00")            # not before customs concludes it
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, sub.order_id)["status"] == "cancelled"
    assert ledger(gw, sub.order_id) == ([("counted", "398.00"), ("restored", "-398.00")], Decimal("0.00"))
    [event] = releases(gw, sub.order_id)
    assert event["why"] == "cancelled" and event["amount"] == "-398.00"


def test_a_refused_cancellation_keeps_the_amount(tmp_path, db_url, signing_key):
    script = SandboxScript().reject(ORDER_NO, "撤单理由不充分 (reason not accepted)", on="CEB623Message")
    gw, _ = make_gateway(tmp_path, db_url, signing_key, script=script)
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_until_idle()
    CorrectionService.for_gateway(gw).cancel_inventory(tenant, sub.order_id, "买家取消")
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, sub.order_id)["status"] == "released"     # the refusal does not reject the order
    assert ledger(gw, sub.order_id) == ([("counted", "398.00")], Decimal("398.00"))
    assert releases(gw, sub.order_id) == []
