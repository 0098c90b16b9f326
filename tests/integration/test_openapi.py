"""The OpenAPI contract (api/openapi.py): generated from the routes, valid OpenAPI 3.1, every rule of
the app in it and nothing else; the order formats' schemas served as intake enforces them; the docs
page served from local files only; the headers every answer carries (no server version,
WWW-Authenticate on 401)."""
import re

import pytest
from openapi_spec_validator import validate

from gateway.api import create_app
from gateway.api.openapi import outside
from gateway.api.v1 import ORDER_SCHEMAS
from gateway.domain.cbec_export import intake as export_intake
from gateway.domain.cbec_import import intake as import_intake
from gateway.domain.general_trade import intake as gt_intake
from tests.helpers import add_tenant, make_gateway


@pytest.fixture
def app(tmp_path, sqlite_url, signing_key):
    gw, _ = make_gateway(tmp_path, sqlite_url, signing_key)
    return create_app(gw, {"TESTING": True})


def _flask_path(rule: str) -> str:
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule)


def test_the_document_is_valid_openapi_31_and_covers_every_route_and_nothing_else(app):
    doc = app.test_client().get("/v1/openapi.json").get_json()
    validate(doc)                                   # the OpenAPI 3.1 meta-schema
    assert doc["openapi"] == "3.1.0"
    routes = {(_flask_path(r.rule), m.lower()) for r in app.url_map.iter_rules() if not outside(r.endpoint)
              for m in r.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == documented
    assert {"/v1/orders", "/v1/openapi.json", "/v1/audit/events", "/v1/schema/order/{order_format}"} <= set(doc["paths"])
    assert set(doc["components"]["securitySchemes"]) == {"tenant", "auditor", "operator"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"]["default"] == {"$ref": "#/components/responses/Problem"}, (path, method)
            if method == "post" and op["security"]:
                assert {"$ref": "#/components/parameters/IdempotencyKey"} in op["parameters"], path
    listing = doc["paths"]["/v1/orders"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"status", "agency", "agency_status", "regime", "direction", "received_from", "received_to", "order_no",
            "waybill", "q", "limit", "cursor"} == names
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000


def test_the_served_order_schemas_are_the_objects_intake_validates_with(app):
    client = app.test_client()
    assert ORDER_SCHEMAS == {"cbec-import": import_intake.SCHEMA, "cbec-export": export_intake.SCHEMA,
                             "general-trade": gt_intake.SCHEMA}
    for name, schema in ORDER_SCHEMAS.items():
        served = client.get(f"/v1/schema/order/{name}")
        assert served.status_code == 200 and served.get_json() == schema.document
        # intake's validator is compiled from that very document
        assert schema._validator.schema is schema.document
    assert client.get("/v1/schema/order/cbec-export").get_json()["properties"]["direction"] != \
        client.get("/v1/schema/order").get_json()["properties"]["direction"]
    assert client.get("/v1/schema/order").get_json() == import_intake.SCHEMA.document   # kept: the import format
    missing = client.get("/v1/schema/order/nope")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def test_the_docs_page_loads_only_local_files_and_they_are_served(app):
    client = app.test_client()
    page = client.get("/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and all(u.startswith("/v1/docs/static/") for u in urls), urls
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200 and r.data, url
    assert b"swagger" in client.get("/v1/docs/static/swagger-ui-bundle.js").data.lower()
    assert client.get("/v1/docs/static/../../etc/passwd").status_code == 404


def test_401_carries_www_authenticate_for_each_scheme(app):
    client = app.test_client()
    r = client.get("/v1/orders")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith('Bearer realm="gateway tenant API"')
    assert r.mimetype == "application/problem+json"
    r = client.get("/v1/orders", headers={"Authorization": "Bearer gw_nope"})
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert 'realm="gateway audit API"' in client.get("/v1/audit/tenants").headers["WWW-Authenticate"]
    assert 'realm="gateway operator API"' in client.get("/v1/dispatch/status").headers["WWW-Authenticate"]
    quarantine = client.get("/v1/receipts/quarantine").headers["WWW-Authenticate"]
    assert "tenant API" in quarantine and "operator API" in quarantine


def test_unknown_query_parameters_are_a_400_naming_them(app):
    gw = app.extensions["gateway"]
    _, key = add_tenant(gw, "Tenant A")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    for url, name in (("/v1/orders?statuss=rejected", "statuss"), ("/v1/webhooks?after=3", "after"),
                      ("/v1/keys?x=1", "x"), ("/v1/receipts/quarantine?all=1", "all")):
        r = client.get(url, headers=auth)
        assert r.status_code == 400, url
        assert r.get_json()["problems"] == [{"path": f"?{name}", "rule": "query-parameter", "message": r.get_json()[
            "problems"][0]["message"]}] and "not a parameter" in r.get_json()["problems"][0]["message"]
    for url, name in (("/v1/orders?limit=0", "limit"), ("/v1/orders?limit=1001", "limit"),
                      ("/v1/orders?status=lost", "status"), ("/v1/orders?received_from=yesterday", "received_from"),
                      ("/v1/orders?cursor=abc", "cursor"), ("/v1/orders?agency_status=released", "agency_status")):
        r = client.get(url, headers=auth)
        assert r.status_code == 400 and r.get_json()["problems"][0]["path"] == f"?{name}", (url, r.get_json())
