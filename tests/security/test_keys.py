"""Issue 9, item 1 — the right key: every path that signs a tenant's document (single order, batch,
the agency records, corrections and reversals, replay, the 179 payment-data upload) signs with the
tenant's key in force at that instant, and with the gateway key only where the tenant has none and
its channel is a sandbox. A production channel never signs with the development key: it refuses to
start without a real key, and a tenant there without a key of its own is refused.

Each case reads ds:KeyName and ds:X509Certificate out of the signed bytes and verifies the signature
against the expected certificate only."""
from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from gateway.api import create_app
from gateway.bootstrap import bootstrap
from gateway.config import ConfigError, Settings
from gateway.ports import FixedClock, SequentialIds
from gateway.service.corrections import CorrectionService
from gateway.service.replay import replay_order
from gateway.signing import verify
from gateway.signing.keystore import KeystoreError
from tests.helpers import START, add_tenant, fixture_json, fixture_text
from tests.signing_tools import MASTER, make, rsa_material

DS = "{http://www.w3.org/2000/09/xmldsig#}"
RECORDS = {"InspectionRecord", "FxRecord", "TaxRecord"}


def signer_of(signed: bytes, expected) -> str:
    """The KeyName in the signed bytes, after checking the certificate in them and the signature."""
    root = etree.fromstring(signed)
    key_name = root.findtext(f"{DS}Signature/{DS}KeyInfo/{DS}KeyName")
    cert = root.findtext(f"{DS}Signature/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    assert cert is not None and base64.b64decode(cert) == expected.certificate.public_bytes(serialization.Encoding.DER)
    verify(signed, trusted_certificates=[expected.certificate])     # raises when another key signed
    return key_name


@pytest.fixture(params=["tenant key", "gateway key"])
def case(request, tmp_path, sqlite_url, signing_key):
    """A sandbox gateway and a tenant that has its own key (or not); ``expected`` signs its documents."""
    gw, sandbox = make(tmp_path, sqlite_url, signing_key)
    tenant, api_key = add_tenant(gw)
    expected = signing_key
    if request.param == "tenant key":
        expected = rsa_material("Tenant A signer")
        gw.keystore.import_key(tenant, expected)
    assert expected.key_name != signing_key.key_name or request.param == "gateway key"
    return gw, sandbox, tenant, api_key, expected


def filings_of(gw, tenant, order_id) -> dict[str, bytes]:
    with gw.uow_factory() as uow:
        return {f.message_type: bytes(f.signed_bytes) for f in uow.filings.for_order(tenant, order_id)}


def test_single_order_and_its_agency_records(case):
    gw, _, tenant, _, expected = case
    order_id = gw.submit(tenant, fixture_text("1210-single-line.json")).order_id
    signed = filings_of(gw, tenant, order_id)
    assert {"CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message"} | RECORDS <= set(signed)
    assert {mt: signer_of(data, expected) for mt, data in signed.items()} == {mt: expected.key_name for mt in signed}


def test_batch_over_the_api_signs_like_a_single_order(case):
    gw, _, tenant, api_key, expected = case
    client = create_app(gw, {"TESTING": True}).test_client()
    auth = {"Authorization": f"Bearer {api_key}"}
    r = client.post("/v1/orders/batch", json=[fixture_json("1210-single-line.json"), fixture_json("9610-minimal.json")],
                    headers=auth)
    assert r.status_code == 207 and r.get_json()["accepted"] == 2, r.get_json()
    for item in r.get_json()["results"]:
        for data in filings_of(gw, tenant, item["id"]).values():
            assert signer_of(data, expected) == expected.key_name
    keys = client.get("/v1/keys", headers=auth).get_json()
    assert keys["signing_with"] == ("gateway key" if expected is gw.key else "tenant key")


def test_corrections_and_reversals(case):
    gw, _, tenant, _, expected = case
    service = CorrectionService.for_gateway(gw)
    modified = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_once()
    body = fixture_json("1210-single-line.json")
    body["batch_numbers"] = "LOT-2026-11-B"
    done = service.modify_order(tenant, modified.order_id, json.dumps(body, ensure_ascii=False))
    gw.dispatcher.run_until_idle()
    cancelled = gw.submit(tenant, fixture_text("9610-minimal.json")).order_id
    returned = gw.submit(tenant, fixture_text("1210-gift-line.json")).order_id
    gw.dispatcher.run_until_idle()
    cancel = service.cancel_inventory(tenant, cancelled, "买家取消订单，商品未出区")
    ret = service.return_goods(tenant, returned, None, "尺寸不合适，买家退货")
    made = {**{mt: fid for mt, fid in done.filing_ids.items()}, **cancel.filing_ids, **ret.filing_ids}
    assert set(made) >= {"CEB311Message", "CEB623Message", "CEB625Message"}
    with gw.uow_factory() as uow:
        for fid in made.values():
            f = uow.filings.get(tenant, fid)
            assert signer_of(bytes(f.signed_bytes), expected) == expected.key_name, f.message_type


def test_payment_data_upload_179(case):
    gw, _, tenant, _, expected = case
    order_id = gw.submit(tenant, fixture_text("1210-single-line.json")).order_id
    gw.realtime179.store_payment_raw(tenant, order_id, {
        "initalRequest": "app_id=1&method=alipay.trade.customs.declare", "initalResponse": "{}", "verDept": "3",
        "payType": "1", "recpAccount": "6222020200012345678", "recpCode": "91460000MA5T000000",
        "recpName": "海南优选国际贸易有限公司", "itemLinks": ["https://shop.example.cn/item/LAN-001"]})
    _, payload = gw.realtime179.build(tenant, "HT20261120000101", "SID-0001")
    assert int(json.loads(payload)["certNo"], 16) == expected.certificate.serial_number


def test_gateway_replay_of_a_batch_order_is_identical(case, tmp_path, sqlite_url, monkeypatch, capsys):
    """`gateway replay` (the command, in a fresh process state) rebuilds a batch order to the same bytes."""
    from gateway.cli import main

    gw, _, tenant, _, expected = case
    items = gw.submit_batch(tenant, [fixture_json("1210-single-line.json"), fixture_json("9610-minimal.json")])
    assert all(i.error is None for i in items)
    keys = tmp_path / "gateway-key"
    keys.mkdir()
    (keys / "k.pem").write_bytes(gw.key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (keys / "c.pem").write_bytes(gw.key.certificate.public_bytes(serialization.Encoding.PEM))
    for name, value in {"GATEWAY_DATABASE_URL": sqlite_url, "GATEWAY_INSTANCE_DIR": str(tmp_path / "cli"),
                        "GATEWAY_KEYSTORE_KEY": MASTER, "GATEWAY_SIGNING_KEY": str(keys / "k.pem"),
                        "GATEWAY_SIGNING_CERT": str(keys / "c.pem")}.items():
        monkeypatch.setenv(name, value)
    for item in items:
        assert main(["replay", "--order", item.submitted.order_id]) == 0
        out = capsys.readouterr().out
        assert "RESULT: identical" in out and "WARNING the filings were signed by" not in out, out
    assert signer_of(next(iter(filings_of(gw, tenant, items[0].submitted.order_id).values())), expected)


def test_rotation_signs_with_the_key_in_force_at_that_instant(tmp_path, sqlite_url, signing_key):
    """An order built before a rotation replays with the old key; one built after, with the new one."""
    from datetime import timedelta

    gw, _ = make(tmp_path, sqlite_url, signing_key)
    tenant, _ = add_tenant(gw)
    old, new = rsa_material("Old"), rsa_material("New")
    gw.keystore.import_key(tenant, old)
    gw.keystore.rotate(tenant, new, active_from=START + timedelta(minutes=5))
    before = gw.submit(tenant, fixture_text("1210-single-line.json")).order_id
    gw.clock.start += timedelta(minutes=10)
    after = gw.submit(tenant, fixture_text("9610-minimal.json")).order_id
    for order_id, key in ((before, old), (after, new)):
        for data in filings_of(gw, tenant, order_id).values():
            assert signer_of(data, key) == key.key_name
        assert replay_order(gw.uow_factory, order_id, key=gw.key_for).identical


# ---- production channels -----------------------------------------------------------------------

def production_settings(tmp_path, sqlite_url, **changes) -> Settings:
    cert = tmp_path / "government.pem"
    cert.write_bytes(rsa_material("Customs").certificate.public_bytes(serialization.Encoding.PEM))
    values = dict(instance_dir=tmp_path / "instance", database_url=sqlite_url, keystore_key=MASTER,
                  channels={"hz-eport": {"adapter": "http", "environment": "production",
                                         "options": {"base_url": "http://127.0.0.1:9"}},
                            "test-window": {"adapter": "sandbox", "environment": "sandbox"}},
                  tenant_channels={"4601980PRD": "hz-eport"}, default_channel="test-window",
                  government_certs=(cert,))
    values.update(changes)
    return Settings(**values)


def test_a_production_channel_without_a_real_key_refuses_to_start(tmp_path, sqlite_url, signing_key):
    for settings, key, needs in (
            (production_settings(tmp_path, sqlite_url), None, "GATEWAY_SIGNING_KEY"),     # the development key
            (production_settings(tmp_path, sqlite_url, keystore_key=None), signing_key, "GATEWAY_KEYSTORE_KEY")):
        with pytest.raises(ConfigError, match=f"production channel 'hz-eport' .*{needs}") as caught:
            bootstrap(settings, clock=FixedClock(START, 1), ids=SequentialIds(), key=key)
        assert "\n" not in str(caught.value)
    # the same channels as sandboxes start with the development key
    sandbox_only = production_settings(tmp_path, sqlite_url, channels={
        "hz-eport": {"adapter": "http", "environment": "sandbox", "options": {"base_url": "http://127.0.0.1:9"}},
        "test-window": {"adapter": "sandbox", "environment": "sandbox"}})
    bootstrap(sandbox_only, clock=FixedClock(START, 1), ids=SequentialIds())


def test_a_tenant_on_a_production_channel_never_signs_with_the_gateway_key(tmp_path, sqlite_url, signing_key):
    gw = bootstrap(production_settings(tmp_path, sqlite_url), clock=FixedClock(START, 1), ids=SequentialIds(),
                   key=signing_key)
    prod, api_key = add_tenant(gw, "Production tenant", cop_code="4601980PRD")
    sandbox_tenant, _ = add_tenant(gw, "Sandbox tenant", cop_code="4601980SBX")
    body = fixture_text("1210-single-line.json")
    with pytest.raises(KeystoreError, match="no signing key .* production channel"):
        gw.submit(prod, body)
    client = create_app(gw, {"TESTING": True}).test_client()
    auth = {"Authorization": f"Bearer {api_key}"}
    r = client.post("/v1/orders/batch", json=[fixture_json("1210-single-line.json")], headers=auth)
    assert r.status_code == 409 and "production channel" in r.get_json()["detail"]
    assert client.get("/v1/keys", headers=auth).get_json()["signing_with"].startswith("refused: ")
    with pytest.raises(KeystoreError):
        gw.key_for(prod)
    assert gw.key_for(sandbox_tenant) is gw.key                  # the sandbox tenant may use the gateway key
    own = rsa_material("Production signer")
    gw.keystore.import_key(prod, own)
    order_id = gw.submit(prod, body).order_id
    for data in filings_of(gw, prod, order_id).values():
        assert signer_of(data, own) == own.key_name

