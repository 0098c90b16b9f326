"""The JSON API through Flask's test client on a real database: authentication, tenant scoping,
201/422/409, exact signed bytes, schema endpoint, bulk upload."""
import json

import pytest
from sqlalchemy import func, select

from gateway.api import create_app
from gateway.signing import verify
from gateway.store import models as m
from tests.helpers import add_tenant, fixture_json, fixture_text, make_gateway


@pytest.fixture
def env(tmp_path, db_url, signing_key):
    gw, sandbox = make_gateway(tmp_path, db_url, signing_key)
    app = create_app(gw, {"TESTING": True})
    a_id, a_key = add_tenant(gw, "Tenant A")
    b_id, b_key = add_tenant(gw, "Tenant B")
    return gw, app.test_client(), {"Authorization": f"Bearer {a_key}"}, {"Authorization": f"Bearer {b_key}"}


def post(client, headers, body):
    return client.post("/v1/orders", data=body.encode() if isinstance(body, str) else body,
                       headers={**headers, "Content-Type": "application/json"})


def test_requests_without_a_valid_key_are_refused(env):
    gw, client, a, b = env
    assert client.post("/v1/orders", data=fixture_text("1210-single-line.json")).status_code == 401
    r = client.get("/v1/orders/x", headers={"Authorization": "Bearer gw_not-a-key"})
    assert r.status_code == 401 and "API key" in r.get_json()["detail"]
    assert r.mimetype == "application/problem+json" and r.get_json()["title"] == "Unauthorized"


def test_submit_returns_201_with_order_and_filing_ids_and_status_is_readable(env):
    gw, client, a, b = env
    r = post(client, a, fixture_text("1210-single-line.json"))
    assert r.status_code == 201
    body = r.get_json()
    assert set(body["filings"]) == {"CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message",
                                    "InspectionRecord", "TaxRecord", "FxRecord"}      # one entry, four agencies
    gw.dispatcher.run_until_idle()
    view = client.get(f"/v1/orders/{body['id']}", headers=a).get_json()
    assert view["status"] == "released"
    assert [f["state"] for f in view["filings"] if f["message_type"] == "CEB621Message"] == ["released"]
    inventory = next(f for f in view["filings"] if f["message_type"] == "CEB621Message")
    assert [x["status_code"] for x in inventory["receipts"]] == ["2", "120", "399", "800"]
    assert view["agencies"] == {"customs": "released", "inspection": "released", "tax": "released", "fx": "released"}
    assert (view["tax"]["computed"], view["tax"]["withheld"], view["tax"]["difference"]) == ("36.22", "36.22", "0.00")
    assert view["tax"]["bill"]["matches"] is True and view["inspection"]["lines"][0]["legal_inspection"] is True


def test_invalid_order_gets_422_with_every_problem_and_nothing_is_stored(env):
    gw, client, a, b = env
    data = fixture_json("1210-single-line.json")
    data["goods_value"] = 398
    data["logistics"]["packages"] = 2
    r = post(client, a, json.dumps(data, ensure_ascii=False))
    assert r.status_code == 422
    problems = {(p["path"], p["rule"]) for p in r.get_json()["problems"]}
    assert problems == {("$.goods_value", "schema:type")}
    data["goods_value"] = "398.00"
    r = post(client, a, json.dumps(data, ensure_ascii=False))
    assert r.status_code == 422
    assert {(p["path"], p["rule"]) for p in r.get_json()["problems"]} == {("$.logistics.packages", "one-package")}
    assert post(client, a, b"{not json").status_code == 422
    with gw.uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(m.Order)) == 0


def test_resubmission_is_idempotent_and_conflicts_are_409(env):
    gw, client, a, b = env
    first = post(client, a, fixture_text("1210-single-line.json"))
    again = post(client, a, fixture_text("1210-single-line.json"))
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    changed = fixture_json("1210-single-line.json")
    changed["buyer"]["telephone"] = "13912345678"
    r = post(client, a, json.dumps(changed, ensure_ascii=False))
    assert r.status_code == 409


def test_filing_xml_is_the_exact_signed_bytes(env):
    gw, client, a, b = env
    body = post(client, a, fixture_text("1210-single-line.json")).get_json()
    fid = body["filings"]["CEB621Message"]
    r = client.get(f"/v1/filings/{fid}/xml", headers=a)
    assert r.status_code == 200 and r.mimetype == "application/xml"
    with gw.uow_factory() as uow:
        stored = bytes(uow.session.get(m.Filing, fid).signed_bytes)
    assert r.data == stored
    assert verify(r.data).key_name


def test_tenant_b_cannot_see_tenant_a(env):
    gw, client, a, b = env
    body = post(client, a, fixture_text("1210-single-line.json")).get_json()
    assert client.get(f"/v1/orders/{body['id']}", headers=b).status_code == 404
    assert client.get(f"/v1/filings/{body['filings']['CEB311Message']}/xml", headers=b).status_code == 404
    assert client.get(f"/v1/orders/{body['id']}", headers=a).status_code == 200


def test_order_schema_is_served(env):
    gw, client, a, b = env
    schema = client.get("/v1/schema/order").get_json()
    assert schema["$schema"].startswith("https://json-schema.org/draft/2020-12")
    assert "lines" in schema["required"]


def test_batch_upload_reports_each_item(env):
    gw, client, a, b = env
    good = fixture_json("1210-single-line.json")
    other = fixture_json("9610-minimal.json")
    bad = fixture_json("1210-gift-line.json")
    bad["actual_paid"] = "0.01"
    body = json.dumps([good, bad, other, good], ensure_ascii=False)
    r = client.post("/v1/orders/batch", data=body.encode(), headers={**a, "Content-Type": "application/json"})
    assert r.status_code == 207
    out = r.get_json()
    assert [x["status"] for x in out["results"]] == [201, 422, 201, 409]
    assert out["accepted"] == 2 and out["refused"] == 2
    assert any(p["rule"] == "actual-paid" for p in out["results"][1]["problems"])
    with gw.uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(m.Order)) == 2
