"""A rejected order corrected and declared again (appType 2 of the refused documents, 退单后变更重报):
the sandbox refuses 9610-over-single-limit's inventory (-621005, over the 5000 CNY single-transaction
limit); the order corrected under the limit is filed again, accepted and released: through the
service, the API, the CLI and the console. Real database (SQLite and PostgreSQL), the in-process
sandbox and the dispatcher run in-process."""
import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from gateway.api import create_app
from gateway.cli import cli
from gateway.domain import status as st
from gateway.service.corrections import CorrectionRefused, CorrectionService
from gateway.store import models as m
from tests.helpers import add_tenant, fixture_json, fixture_text, make_gateway, submit_sent_anyway
from tests.integration.test_console import HTTPS, client_for, csrf


def corrected_under_the_limit() -> str:
    """9610-over-single-limit.json without its second line (the wallet, 936.00): 4280.00 CNY of goods."""
    data = fixture_json("9610-over-single-limit.json")
    data["lines"] = data["lines"][:1]
    data["goods_value"] = "4280.00"
    data["actual_paid"] = data["payment"]["amount"] = "4843.30"     # 4280.00 + freight 80.00 + tax 483.30
    data.pop("note", None)
    return json.dumps(data, ensure_ascii=False)


def rejected(gw, tenant) -> str:
    sub = submit_sent_anyway(gw, tenant, fixture_text("9610-over-single-limit.json"))   # held at intake
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "rejected" and "-621005" in view["status_reason"], view
    return sub.order_id


def released_with_history(gw, tenant, order_id) -> None:
    """Customs took the corrected documents: the order is released; the refused inventory stays, the
    modification (appType 2) links to it; two order versions."""
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, order_id)
    assert view["status"] == "released", [(f["message_type"], f["state"], f.get("receipts")) for f in view["filings"]]
    with gw.uow_factory() as uow:
        versions = [v.version for v in uow.session.query(m.OrderVersion).filter_by(order_id=order_id)]
        inventories = sorted((f.app_type, f.state, f.corrects_id is not None)
                             for f in uow.filings.for_order(tenant, order_id) if f.message_type == "CEB621Message")
    assert inventories == [("1", st.REJECTED, False), ("2", st.RELEASED, True)]
    assert versions == [2]                       # version 1 is the order as first submitted (orders.body)


def test_a_rejected_order_is_corrected_and_released(tmp_path, db_url, signing_key):
    gw, sandbox = make_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    order_id = rejected(gw, tenant)
    service = CorrectionService.for_gateway(gw)
    done = service.resubmit_order(tenant, order_id, corrected_under_the_limit())
    assert done.filing_ids.keys() >= {"CEB311Message", "CEB621Message"}, done     # order and inventory changed
    with gw.uow_factory() as uow:
        new = uow.filings.get(tenant, done.filing_ids["CEB621Message"])
        assert new.app_type == "2" and new.corrects_id is not None
        guid = new.guid
    released_with_history(gw, tenant, order_id)
    assert b"<ceb:appType>2</ceb:appType>" in sandbox.received_bytes(guid)
    with pytest.raises(CorrectionRefused) as again:                             # released: nothing to resubmit
        service.resubmit_order(tenant, order_id, corrected_under_the_limit())
    assert again.value.refusal.rule == "resubmit-not-rejected"


def test_resubmit_through_the_api(tmp_path, db_url, signing_key):
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    tenant, key = add_tenant(gw)
    order_id = rejected(gw, tenant)
    client = create_app(gw, {"TESTING": True}).test_client()
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bad = fixture_json("9610-over-single-limit.json")
    bad["actual_paid"] = "1.00"
    r = client.post(f"/v1/orders/{order_id}/resubmit", data=json.dumps(bad).encode(), headers=auth)
    assert r.status_code == 422 and "actual_paid" in r.get_data(as_text=True), r.get_data(as_text=True)
    r = client.post(f"/v1/orders/{order_id}/resubmit", data=corrected_under_the_limit().encode(), headers=auth)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json()["order_version"] == 2 and "CEB621Message" in r.get_json()["filings"]
    released_with_history(gw, tenant, order_id)


def test_resubmit_through_the_cli(tmp_path, sqlite_url, signing_key, monkeypatch):
    gw, _ = make_gateway(tmp_path, sqlite_url, signing_key)
    tenant, _ = add_tenant(gw)
    order_id = rejected(gw, tenant)
    corrected = tmp_path / "corrected.json"
    corrected.write_text(corrected_under_the_limit(), "utf-8")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("GATEWAY_INSTANCE_DIR", str(tmp_path / "instance"))
    runner = CliRunner()
    r = runner.invoke(cli, ["order", "resubmit", order_id, str(corrected), "--tenant", "nobody"])
    assert r.exit_code != 0 or "not found" in (r.output + str(r.return_value))
    r = runner.invoke(cli, ["order", "resubmit", order_id, str(corrected), "--tenant", tenant])
    assert r.exception is None, r.output
    out = json.loads(r.output)
    gw.clock.start = datetime.now(UTC) + timedelta(minutes=1)   # the CLI ran on the real clock
    assert out["order_version"] == 2 and "CEB621Message" in out["filings"]
    released_with_history(gw, tenant, order_id)


def test_resubmit_from_the_console(tmp_path, sqlite_url, signing_key):
    gw, _ = make_gateway(tmp_path, sqlite_url, signing_key)
    tenant, key = add_tenant(gw)
    order_id = rejected(gw, tenant)
    app = create_app(gw, {"TESTING": True})
    a = client_for(app, key)
    page = a.get(f"/console/orders/{order_id}", base_url=HTTPS).get_data(as_text=True)
    assert f"/console/orders/{order_id}/resubmit" in page and "Correct and resubmit" in page
    form = a.get(f"/console/orders/{order_id}/resubmit", base_url=HTTPS)
    body = html.unescape(re.search(r'<textarea id="body"[^>]*>(.*?)</textarea>', form.get_data(as_text=True),
                                   re.S).group(1))
    assert json.loads(body)["order_no"] == fixture_json("9610-over-single-limit.json")["order_no"]   # prefilled
    r = a.post(f"/console/orders/{order_id}/resubmit", data={"body": corrected_under_the_limit()}, base_url=HTTPS)
    assert r.status_code == 400, r.status_code                                          # no CSRF token
    r = a.post(f"/console/orders/{order_id}/resubmit", data={"body": body, "csrf_token": csrf(form)}, base_url=HTTPS)
    assert r.status_code == 422 and "modify-no-change" in r.get_data(as_text=True)       # unchanged: said why
    r = a.post(f"/console/orders/{order_id}/resubmit",
               data={"body": corrected_under_the_limit(), "csrf_token": csrf(form)}, base_url=HTTPS)
    assert r.status_code == 302, r.get_data(as_text=True)
    released_with_history(gw, tenant, order_id)
    page = a.get(f"/console/orders/{order_id}", base_url=HTTPS).get_data(as_text=True)
    assert "Correct and resubmit" not in page
