"""Held orders (issue 11): what customs will refuse for a rule known at intake (the single-transaction
limit, e-port −621005) is stored "held" with the rule named, not signed or sent, until the operator
releases it; the operator's release builds, signs and queues it (gateway.service.holds)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from gateway.domain.problems import OrderInvalid
from gateway.service.holds import NotHeld
from gateway.service.orders import NotFound
from gateway.store import models as m
from tests.helpers import add_tenant, fixture_json, fixture_text, make_gateway

OVER = "9610-over-single-limit.json"     # two lines, 5,216.00 + freight 80 + insurance 15 = 5,311.00


@pytest.fixture
def gw_sandbox(tmp_path, db_url, signing_key):
    return make_gateway(tmp_path, db_url, signing_key)


def one_line(quantity: str, unit_price: str) -> str:
    """The over-limit fixture with its handbag line only, at ``quantity`` x ``unit_price``."""
    data = fixture_json(OVER)
    line = data["lines"][0]
    total = f"{int(quantity) * float(unit_price):.2f}"
    line.update(quantity=quantity, unit_price=unit_price, total_price=total, legal_quantity=quantity)
    data["lines"] = [line]
    data["goods_value"] = total
    data["tax_withheld"] = "0"
    paid = f"{float(total) + float(data['logistics']['freight']):.2f}"
    data["actual_paid"] = data["payment"]["amount"] = paid
    data["logistics"]["goods_info"] = "手提包"
    return json.dumps(data, ensure_ascii=False)


def outbox_rows(gw) -> int:
    with gw.uow_factory() as uow:
        return uow.session.scalar(select(func.count()).select_from(m.OutboxItem))


def audit_actions(gw, order_id: str) -> list[str]:
    with gw.uow_factory() as uow:
        return list(uow.session.scalars(select(m.AuditEvent.action).where(m.AuditEvent.subject_id == order_id)
                                        .order_by(m.AuditEvent.id)))


def test_an_order_over_the_single_limit_is_held_not_signed_or_sent(gw_sandbox):
    gw, sandbox = gw_sandbox
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text(OVER))
    assert sub.created and sub.filing_ids == {}
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "held" and view["filings"] == []
    assert "[cbec-single-limit]" in view["status_reason"] and "5311.00" in view["status_reason"]
    assert [h["rule"] for h in view["holds"]] == ["cbec-single-limit"] and view["release"] is None
    assert view["annual"]["counted"] is None
    assert outbox_rows(gw) == 0
    gw.dispatcher.run_until_idle()
    assert sandbox.received() == {}                             # nothing reached the government
    assert gw.order(tenant, sub.order_id)["status"] == "held"
    assert audit_actions(gw, sub.order_id) == ["order.received", "order.held"]
    # the same body again answers the held order (idempotent), nothing more is stored
    again = gw.submit(tenant, fixture_text(OVER))
    assert (again.order_id, again.created) == (sub.order_id, False)


def test_the_operator_releases_a_held_order_and_customs_refuses_it(gw_sandbox):
    gw, sandbox = gw_sandbox
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text(OVER))
    released = gw.release_held(tenant, sub.order_id, "the platform insists: customs agreed to take it")
    assert set(released.filing_ids) >= {"CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message"}
    assert "TaxRecord" not in released.filing_ids               # over the limit: not taxed here
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "in_progress" and view["release"]["rules"] == ["cbec-single-limit"]
    assert view["release"]["reason"] == "the platform insists: customs agreed to take it"
    assert audit_actions(gw, sub.order_id)[-1] == "order.released"
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    # the sandbox's own reading of the rule refuses it, as the gateway expected
    assert view["status"] == "rejected" and "-621005" in view["status_reason"], view
    with pytest.raises(NotHeld):
        gw.release_held(tenant, sub.order_id, "again")


def test_a_released_order_replays_to_the_same_bytes(gw_sandbox, signing_key):
    from gateway.service.replay import replay_order

    gw, _ = gw_sandbox
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text(OVER))
    gw.release_held(tenant, sub.order_id, "customs agreed")
    report = replay_order(gw.uow_factory, sub.order_id, key=signing_key, record=False)
    assert report.identical, report.lines()


def test_one_line_of_quantity_2_over_the_limit_is_held_and_refused_by_customs_when_forced(gw_sandbox):
    gw, _ = gw_sandbox
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, one_line("2", "2600.00"))        # 5,200 + 95: two items, not one
    assert gw.order(tenant, sub.order_id)["status"] == "held"
    gw.release_held(tenant, sub.order_id, "test: send it anyway")
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "rejected" and "-621005" in view["status_reason"], view   # not released untaxed


def test_one_single_item_over_the_limit_is_sent_taxed_in_full_and_the_bill_agrees(gw_sandbox):
    gw, _ = gw_sandbox
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, one_line("1", "5200.00"))
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "in_progress" and view["holds"] == []
    assert view["tax"]["mode"] == "single-item-over-limit"
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "released", view
    assert view["tax"]["bill"]["matches"] is True and view["tax"]["bill"]["total"] == view["tax"]["computed"]
    assert view["tax"]["bill"]["duty"] != "0.00"                 # in full: the MFN duty too


def test_release_needs_a_held_order_of_the_tenant_and_a_reason(gw_sandbox):
    gw, _ = gw_sandbox
    tenant, _ = add_tenant(gw)
    other, _ = add_tenant(gw, name="Tenant B", cop_code="4601980ABD")
    held = gw.submit(tenant, fixture_text(OVER))
    normal = gw.submit(tenant, fixture_text("9610-minimal.json"))
    with pytest.raises(OrderInvalid) as caught:
        gw.release_held(tenant, held.order_id, "  ")
    assert caught.value.problems[0].rule == "release-reason"
    with pytest.raises(NotFound):
        gw.release_held(other, held.order_id, "not theirs")
    with pytest.raises(NotHeld):
        gw.release_held(tenant, normal.order_id, "not held")
    assert gw.order(tenant, held.order_id)["status"] == "held"


# -- the operator's surfaces: API (operator key) and CLI ------------------------------------------------

OPERATOR_KEY = "op_" + "h" * 40


def test_the_operator_releases_through_the_api(tmp_path, signing_key):
    import hashlib

    from gateway.api import create_app

    gw, _ = make_gateway(tmp_path, f"sqlite:///{tmp_path}/g.sqlite3", signing_key)
    client = create_app(gw, {"GATEWAY_OPERATOR_KEY_SHA256": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()}
                        ).test_client()
    tenant, tenant_key = add_tenant(gw)
    tenant_auth = {"Authorization": f"Bearer {tenant_key}", "Content-Type": "application/json"}
    r = client.post("/v1/orders", data=fixture_text(OVER).encode(), headers=tenant_auth)
    assert r.status_code == 201 and r.json["held"] == ["cbec-single-limit"] and r.json["filings"] == {}, r.json
    r = client.post("/v1/orders/batch", data=json.dumps([json.loads(fixture_text(OVER))]).encode(), headers=tenant_auth)
    assert r.status_code == 207 and r.json["results"][0]["held"] == ["cbec-single-limit"], r.json   # the same order
    assert client.get("/v1/orders?status=held", headers=tenant_auth).json["orders"][0]["status"] == "held"
    held = gw.submit(tenant, fixture_text(OVER))
    url = f"/v1/operator/tenants/{tenant}/orders/{held.order_id}/release"
    operator = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    assert client.post(url, json={"reason": "x"}, headers={"Authorization": f"Bearer {tenant_key}"}).status_code == 403
    r = client.post(url, json={}, headers=operator)
    assert r.status_code == 422 and r.json["problems"][0]["rule"] == "release-reason"
    assert client.post(f"/v1/operator/tenants/{tenant}/orders/nope/release", json={"reason": "x"},
                       headers=operator).status_code == 404
    r = client.post(url, json={"reason": "customs agreed"}, headers=operator)
    assert r.status_code == 200 and r.json["status"] == "in_progress" and "CEB621Message" in r.json["filings"]
    r = client.post(url, json={"reason": "customs agreed"}, headers=operator)
    assert r.status_code == 409 and r.json["type"].endswith("order-not-held")


def test_the_operator_releases_with_the_cli(tmp_path, sqlite_url, signing_key, monkeypatch):
    from click.testing import CliRunner

    from gateway.cli import cli

    gw, _ = make_gateway(tmp_path, sqlite_url, signing_key)
    tenant, _ = add_tenant(gw)
    held = gw.submit(tenant, fixture_text(OVER))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("GATEWAY_INSTANCE_DIR", str(tmp_path / "instance"))
    runner = CliRunner()
    r = runner.invoke(cli, ["order", "release", held.order_id, "--tenant", tenant, "--reason", "customs agreed"])
    assert r.exception is None and r.exit_code == 0, r.output
    out = json.loads(r.output)
    view = gw.order(tenant, held.order_id)
    assert out["status"] == view["status"] == "in_progress"
    assert sorted(out["filings"].values()) == sorted(f["id"] for f in view["filings"])
    r = runner.invoke(cli, ["order", "release", held.order_id, "--tenant", tenant, "--reason", "again"],
                      standalone_mode=False)                   # the command's own exit code in return_value
    assert r.return_value not in (None, 0) and "not held" in r.output


def test_a_correction_that_breaks_the_single_limit_is_not_filed(gw_sandbox):
    gw, _ = gw_sandbox
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, one_line("1", "4000.00"))
    from gateway.service.corrections import CorrectionInvalid, CorrectionService

    with pytest.raises(CorrectionInvalid) as caught:
        CorrectionService.for_gateway(gw).modify_order(tenant, sub.order_id, one_line("2", "2600.00"))
    [problem] = caught.value.problems
    assert problem.rule == "cbec-single-limit" and "not filed" in problem.message
