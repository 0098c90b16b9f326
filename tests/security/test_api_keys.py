"""Issue 9, item 7: the lifecycle of tenants and their API keys. Created, listed (prefix only),
revoked and rotated by the operator (API and CLI); a revoked key, a rotated-out key and every key of
a disabled tenant fail at once, on every authenticated surface."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from gateway.api import create_app
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from tests.helpers import ROOT, add_tenant, make_gateway

OPERATOR_KEY = "op_" + "s" * 40
SURFACES = ("/v1/webhooks", "/v1/receipts/quarantine", "/v1/orders/00000000-0000-0000-0000-000000000000")


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def works(client, key) -> bool:
    """True when every tenant surface accepts the key (401 on each when refused)."""
    codes = {client.get(path, headers=bearer(key)).status_code for path in SURFACES}
    assert codes <= {200, 404, 401}, codes
    if codes == {401}:
        return False
    assert 401 not in codes, codes
    return True


@pytest.fixture
def app(tmp_path, signing_key):
    gw, _ = make_gateway(tmp_path, f"sqlite:///{tmp_path}/g.sqlite3", signing_key)
    sha = hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()
    return gw, create_app(gw, {"GATEWAY_OPERATOR_KEY_SHA256": sha}).test_client()


def test_a_revoked_key_fails_at_once(app):
    gw, client = app
    tenant, first = add_tenant(gw)
    made = client.post(f"/v1/operator/tenants/{tenant}/api-keys", json={"label": "erp"}, headers=bearer(OPERATOR_KEY))
    assert made.status_code == 201
    second = made.json["api_key"]
    assert works(client, first) and works(client, second)
    listed = client.get(f"/v1/operator/tenants/{tenant}/api-keys", headers=bearer(OPERATOR_KEY)).json["api_keys"]
    assert sorted(k["label"] for k in listed) == ["default", "erp"]
    assert second not in json.dumps(listed) and all(set(k) >= {"id", "prefix"} for k in listed)
    assert all("hash" not in json.dumps(k) for k in listed)
    revoked = client.delete(f"/v1/operator/tenants/{tenant}/api-keys/{made.json['id']}", headers=bearer(OPERATOR_KEY))
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    assert not works(client, second)                  # the very next request
    assert works(client, first)                       # the other key is untouched


def test_rotation_gives_a_new_key_and_the_old_one_stops(app):
    gw, client = app
    tenant, old = add_tenant(gw)
    old_id = client.get(f"/v1/operator/tenants/{tenant}/api-keys", headers=bearer(OPERATOR_KEY)).json["api_keys"][0]["id"]
    rotated = client.post(f"/v1/operator/tenants/{tenant}/api-keys/{old_id}/rotate", headers=bearer(OPERATOR_KEY))
    assert rotated.status_code == 201 and rotated.json["replaces"] == old_id
    assert works(client, rotated.json["api_key"]) and not works(client, old)
    again = client.post(f"/v1/operator/tenants/{tenant}/api-keys/{old_id}/rotate", headers=bearer(OPERATOR_KEY))
    assert again.status_code == 422                   # a revoked key is not rotated twice


def test_disabling_a_tenant_stops_all_its_keys_and_no_other(app):
    gw, client = app
    a, a_key = add_tenant(gw, "A")
    b, b_key = add_tenant(gw, "B")
    extra = client.post(f"/v1/operator/tenants/{a}/api-keys", headers=bearer(OPERATOR_KEY)).json["api_key"]
    r = client.post(f"/v1/operator/tenants/{a}/disable", headers=bearer(OPERATOR_KEY))
    assert r.status_code == 200 and r.json["disabled_at"]
    assert not works(client, a_key) and not works(client, extra)
    assert works(client, b_key)
    shown = client.get(f"/v1/operator/tenants/{a}", headers=bearer(OPERATOR_KEY)).json
    assert shown["disabled_at"] and len(shown["api_keys"]) == 2
    tenants = client.get("/v1/operator/tenants", headers=bearer(OPERATOR_KEY)).json["tenants"]
    assert {t["id"]: bool(t["disabled_at"]) for t in tenants} == {a: True, b: False}


def test_only_the_operator_manages_keys_and_only_within_the_named_tenant(app, tmp_path, signing_key):
    gw, client = app
    a, a_key = add_tenant(gw, "A")
    b, _ = add_tenant(gw, "B")
    b_key_id = client.get(f"/v1/operator/tenants/{b}/api-keys", headers=bearer(OPERATOR_KEY)).json["api_keys"][0]["id"]
    for method, path in (("get", "/v1/operator/tenants"), ("post", f"/v1/operator/tenants/{a}/api-keys"),
                         ("delete", f"/v1/operator/tenants/{b}/api-keys/{b_key_id}"),
                         ("post", f"/v1/operator/tenants/{b}/disable")):
        assert getattr(client, method)(path, headers=bearer(a_key)).status_code == 403, path     # a tenant key
        assert getattr(client, method)(path).status_code == 401, path
    # tenant B's key cannot be revoked under tenant A's path
    assert client.delete(f"/v1/operator/tenants/{a}/api-keys/{b_key_id}", headers=bearer(OPERATOR_KEY)).status_code == 404
    # without an operator key configured, nobody is the operator
    plain = create_app(gw).test_client()
    assert plain.get("/v1/operator/tenants", headers=bearer(OPERATOR_KEY)).status_code == 403


def test_the_cli_lists_shows_disables_and_manages_keys(tmp_path):
    inst = tmp_path / "inst"
    env = {"GATEWAY_INSTANCE_DIR": str(inst), "PATH": "/usr/bin:/bin"}

    def cli(*args):
        r = subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, env=env,
                           cwd=ROOT, timeout=120)
        return r.returncode, (json.loads(r.stdout) if r.stdout.strip() else None), r.stderr

    rc, made, err = cli("tenant", "create", "CLI", "--cop-code", "4601980ABC", "--cop-name", "x", "--dxp-id", "DXP1")
    assert rc == 0, err
    tid, first = made["tenant_id"], made["api_key"]
    rc, created, _ = cli("apikey", "create", tid, "--label", "second")
    assert rc == 0 and created["api_key"].startswith("gw_")
    rc, keys, _ = cli("apikey", "list", tid)
    assert [k["label"] for k in keys] == ["default", "second"]
    rc, rotated, _ = cli("apikey", "rotate", tid, created["id"])
    assert rc == 0 and rotated["replaces"] == created["id"]
    rc, revoked, _ = cli("apikey", "revoke", tid, keys[0]["id"])
    assert rc == 0 and revoked["revoked_at"]
    assert cli("apikey", "revoke", tid, "NO-SUCH-KEY")[0] == 2
    client = create_app(bootstrap(Settings(instance_dir=inst))).test_client()
    assert not works(client, first) and not works(client, created["api_key"]) and works(client, rotated["api_key"])
    rc, listed, _ = cli("tenant", "list")
    assert [t["id"] for t in listed] == [tid]
    rc, shown, _ = cli("tenant", "show", tid)
    assert len(shown["api_keys"]) == 3 and sum(1 for k in shown["api_keys"] if k["revoked_at"]) == 2
    assert cli("tenant", "disable", tid)[0] == 0
    assert not works(client, rotated["api_key"])
    assert cli("tenant", "show", "NOPE")[0] == 2
