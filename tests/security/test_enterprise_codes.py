"""Issue 9, item 4: a tenant files only under the enterprise codes registered for it (its own
transmitting-enterprise code, its clients' for a one-stop provider). Any other code, in any role
and any of the three order formats, is refused with 422, rule ``enterprise-not-registered`` and
the JSON path; nothing is stored. Codes are managed by the operator (API and CLI)."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from gateway.api import create_app
from gateway.domain.enterprises import named_enterprises
from gateway.domain.parse import parse_order
from gateway.store import models as m
from tests.helpers import ROOT, START, add_tenant, make_gateway

OPERATOR_KEY = "op_" + "k" * 40
FORMATS = {   # one fixture per format and direction
    "cbec-import": ROOT / "fixtures/orders/valid/1210-single-line.json",
    "cbec-import-guarantor": ROOT / "fixtures/orders/valid/1210-six-lines.json",
    "cbec-export": ROOT / "fixtures/orders/export/valid/9610-summary-sea-germany.json",
    "cbec-export-zone": ROOT / "fixtures/orders/export/valid/1210-special-zone-japan.json",
    "general-import": ROOT / "fixtures/orders/general/valid/gt-import-infant-formula.json",
    "general-export": ROOT / "fixtures/orders/general/valid/gt-export-apparel.json",
}


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def operator_app(gw):
    return create_app(gw, {"GATEWAY_OPERATOR_KEY_SHA256": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()})


def stored_orders(gw) -> int:
    with gw.uow_factory() as uow:
        return uow.session.scalar(select(func.count()).select_from(m.Order))


def named(path) -> list[tuple[str, str]]:
    return named_enterprises(parse_order(path.read_text("utf-8"), on=START))


@pytest.fixture
def gw(tmp_path, signing_key):
    gateway, _ = make_gateway(tmp_path, f"sqlite:///{tmp_path}/g.sqlite3", signing_key)
    return gateway


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_enterprise_code_of_every_format_must_be_registered(gw, fmt):
    """For each code the order names: register all the others and submit; refused at that path."""
    path = FORMATS[fmt]
    codes = named(path)
    assert len(codes) >= 4
    client = create_app(gw).test_client()
    refused = []
    for i, (json_path, code) in enumerate(codes):
        others = [c for _, c in codes if c != code]
        _tid, key = add_tenant(gw, f"T{i}", cop_code="9999999999", enterprises=others)
        r = client.post("/v1/orders", data=path.read_bytes(), headers={**bearer(key), "Content-Type": "application/json"})
        assert r.status_code == 422, (fmt, json_path, r.status_code)
        problems = r.json["problems"]
        assert [(p["path"], p["rule"]) for p in problems] == [(json_path, "enterprise-not-registered")]
        assert code in problems[0]["message"]
        refused.append(json_path)
    assert len(refused) == len(codes) and stored_orders(gw) == 0
    # with every code registered, the same order is accepted
    _tid, key = add_tenant(gw, "all", cop_code="9999999999", enterprises=[c for _, c in codes])
    r = client.post("/v1/orders", data=path.read_bytes(), headers={**bearer(key), "Content-Type": "application/json"})
    assert r.status_code == 201, r.json


def test_another_tenants_codes_are_refused_and_the_own_cop_code_is_implied(gw):
    path = FORMATS["cbec-import"]
    client = create_app(gw).test_client()
    add_tenant(gw, "Victim")                                             # owns the fixture codes
    _tid, key = add_tenant(gw, "Attacker", cop_code="1111111111", enterprises=[])
    r = client.post("/v1/orders", data=path.read_bytes(), headers={**bearer(key), "Content-Type": "application/json"})
    assert r.status_code == 422
    assert {p["path"] for p in r.json["problems"]} == {p for p, _ in named(path)}
    # the tenant's own cop code needs no registration: the declarant here is the tenant itself
    others = [c for p, c in named(path) if p != "$.declarant.code"]
    _tid, own_key = add_tenant(gw, "Declarant itself", cop_code="4601980ABC", enterprises=others)
    r = client.post("/v1/orders", data=path.read_bytes(), headers={**bearer(own_key), "Content-Type": "application/json"})
    assert r.status_code == 201, r.json
    assert stored_orders(gw) == 1


def test_a_batch_refuses_only_the_foreign_orders(gw):
    client = create_app(gw).test_client()
    own = json.loads(FORMATS["cbec-import"].read_text("utf-8"))
    foreign = json.loads(json.dumps(own))
    foreign["order_no"] = "HT20261120999999"
    foreign["bonded"]["area"]["code"] = "4604669999"                     # someone else's warehouse
    _tid, key = add_tenant(gw)
    r = client.post("/v1/orders/batch", json=[own, foreign], headers=bearer(key))
    assert r.status_code in (200, 207), r.json
    results = r.get_json()
    text = json.dumps(results)
    assert "enterprise-not-registered" in text and "$.bonded.area.code" in text
    assert stored_orders(gw) == 1


def test_the_operator_manages_codes_by_api_and_tenants_cannot(gw):
    client = operator_app(gw).test_client()
    tid, key = add_tenant(gw, enterprises=[])
    url = f"/v1/operator/tenants/{tid}/enterprises"
    body = {"enterprises": [{"code": "4612260A0K", "name": "海南优选"}, {"code": "46121601BC"}]}
    assert client.post(url, json=body, headers=bearer(key)).status_code == 403          # a tenant key
    assert client.post(url, json=body).status_code == 401
    r = client.post(url, json=body, headers=bearer(OPERATOR_KEY))
    assert r.status_code == 201 and [a["code"] for a in r.json["added"]] == ["4612260A0K", "46121601BC"]
    assert client.post(url, json=body, headers=bearer(OPERATOR_KEY)).json["added"] == []  # idempotent
    listed = client.get(url, headers=bearer(OPERATOR_KEY)).json
    assert listed["own"] == "4601980ABC" and {e["code"] for e in listed["enterprises"]} == {"4612260A0K", "46121601BC"}
    for bad in ({"enterprises": [{"code": "无"}]}, {"enterprises": [{"code": "abc"}]}, {"enterprises": []}, {}):
        assert client.post(url, json=bad, headers=bearer(OPERATOR_KEY)).status_code == 422, bad
    assert client.post("/v1/operator/tenants/NOPE/enterprises", json=body,
                       headers=bearer(OPERATOR_KEY)).status_code == 404
    assert client.delete(f"{url}/4612260A0K", headers=bearer(OPERATOR_KEY)).status_code == 204
    assert client.delete(f"{url}/4612260A0K", headers=bearer(OPERATOR_KEY)).status_code == 404
    assert [e["code"] for e in client.get(url, headers=bearer(OPERATOR_KEY)).json["enterprises"]] == ["46121601BC"]


def test_the_operator_manages_codes_by_cli(tmp_path):
    env = {"GATEWAY_INSTANCE_DIR": str(tmp_path / "inst"), "PATH": "/usr/bin:/bin"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True,
                              env=env, cwd=ROOT, timeout=120)

    made = cli("tenant", "create", "CLI", "--cop-code", "4601980ABC", "--cop-name", "海口一达",
               "--dxp-id", "DXPENT0000458763", "--enterprise", "46121601BC")
    assert made.returncode == 0, made.stderr
    tid = json.loads(made.stdout)["tenant_id"]
    assert cli("enterprise", "add", tid, "4612260A0K", "312226T001", "--name", "x").returncode == 0
    listed = json.loads(cli("enterprise", "list", tid).stdout)
    assert {e["code"] for e in listed["enterprises"]} == {"46121601BC", "4612260A0K", "312226T001"}
    assert cli("enterprise", "remove", tid, "312226T001").returncode == 0
    assert cli("enterprise", "remove", tid, "312226T001").returncode == 1
    assert cli("enterprise", "add", tid, "bad code").returncode == 2
    refused = cli("tenant", "create", "Bad", "--cop-code", "4601980ABC", "--cop-name", "海口一达",
                  "--dxp-id", "DXPENT0000458763", "--enterprise", "abc")
    assert refused.returncode == 2 and "enterprises[0]" in refused.stderr and refused.stdout == ""
    assert [t["name"] for t in json.loads(cli("tenant", "list").stdout)] == ["CLI"]     # nothing stored


def test_a_tenant_with_a_bad_enterprise_code_is_refused_whole(gw):
    client = operator_app(gw).test_client()
    body = {"name": "X", "cop_code": "4601980ABC", "cop_name": "海口一达", "dxp_id": "DXPENT0000458763",
            "enterprises": ["46121601BC", "abc"]}
    r = client.post("/v1/operator/tenants", json=body, headers=bearer(OPERATOR_KEY))
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert [(p["path"], p["rule"]) for p in r.json["problems"]] == [("$.enterprises[1]", "enterprise-code")]
    with gw.uow_factory() as uow:                        # nothing stored: no tenant, no key, no code
        assert uow.session.scalar(select(func.count()).select_from(m.Tenant)) == 0
        assert uow.session.scalar(select(func.count()).select_from(m.TenantEnterprise)) == 0
    body["enterprises"] = ["46121601BC"]
    made = client.post("/v1/operator/tenants", json=body, headers=bearer(OPERATOR_KEY))
    assert made.status_code == 201 and made.json["api_key"]
    codes = client.get(f"/v1/operator/tenants/{made.json['id']}/enterprises", headers=bearer(OPERATOR_KEY)).json
    assert [e["code"] for e in codes["enterprises"]] == ["46121601BC"]
