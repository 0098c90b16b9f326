"""Announcement 179 real-time payment data: customs (a real local HTTP server standing in for
realTimeDataUpload) calls platDataOpen, the gateway answers at once and uploads the signed
payExInfoStr built from the stored order and its raw payment data. The far end rebuilds the ``||``
signing string from the bytes it received and checks the signature independently (openssl for SM2)."""
from __future__ import annotations

import base64
import json
import logging
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import select

from gateway.api import create_app
from gateway.service.realtime179 import signing_string
from gateway.store import models as m
from tests.customs_179 import Customs
from tests.helpers import add_tenant, fixture_text
from tests.signing_tools import make, openssl, raw_to_der, require_openssl_sm2, rsa_material, sm2_material

RAW = {
    "initalRequest": "app_id=2021000000000001&method=alipay.trade.customs.declare&biz_content={\"out_request_no\":\"R1\"}",
    "initalResponse": "{\"alipay_trade_customs_declare_response\":{\"code\":\"10000\",\"msg\":\"Success\"}}",
    "verDept": "3", "payType": "1", "recpAccount": "6222020200012345678", "recpCode": "91460000MA5T000000",
    "recpName": "海南优选国际贸易有限公司", "itemLinks": ["https://shop.example.cn/item/LAN-001"],
}


@pytest.fixture
def customs():
    server = Customs(delay=0.5)
    yield server
    server.stop()


def gateway_with(tmp_path, sqlite_url, signing_key, customs, material):
    gw, _ = make(tmp_path, sqlite_url, signing_key)
    gw.realtime179.upload_url = customs.url
    tenant, api_key = add_tenant(gw)
    gw.keystore.import_key(tenant, material)
    order = gw.submit(tenant, fixture_text("1210-single-line.json"))
    client = create_app(gw, {"TESTING": True}).test_client()
    return gw, client, {"Authorization": f"Bearer {api_key}"}, order.order_id, tenant


def open_url(tenant: str) -> str:
    return f"/ceb179/{tenant}/platDataOpen"


def node_text(payload: str, name: str) -> str:
    """The exact JSON text of a first-level node, as received (no re-serialisation)."""
    start = payload.index(f'"{name}":') + len(name) + 3
    _, end = json.JSONDecoder().raw_decode(payload, start)
    return payload[start:end]


def received_signing_string(payload: str) -> tuple[bytes, dict]:
    data = json.loads(payload)
    text = (f'"sessionID":"{data["sessionID"]}"||"payExchangeInfoHead":"{node_text(payload, "payExchangeInfoHead")}"||'
            f'"payExchangeInfoLists":"{node_text(payload, "payExchangeInfoLists")}"||'
            f'"serviceTime":"{node_text(payload, "serviceTime")}"')
    return text.encode("utf-8"), data


@pytest.mark.parametrize("key_type", ["sm2", "rsa"])
def test_plat_data_open_answers_at_once_then_uploads_signed_data(tmp_path, sqlite_url, signing_key, customs, key_type):
    if key_type == "sm2":
        require_openssl_sm2()
    material = sm2_material() if key_type == "sm2" else rsa_material()
    gw, client, auth, order_id, tenant = gateway_with(tmp_path, sqlite_url, signing_key, customs, material)
    r = client.post(f"/v1/orders/{order_id}/payment-raw", json=RAW, headers=auth)
    assert r.status_code == 201, r.get_json()

    started = time.monotonic()
    r = client.post(open_url(tenant), data={"openReq": json.dumps(
        {"orderNo": "HT20261120000101", "sessionID": "SID-0001", "serviceTime": 1763600000000})})
    answered = time.monotonic() - started
    assert r.status_code == 200 and r.get_json()["code"] == "10000" and r.get_json()["serviceTime"]
    assert answered < customs.delay                  # answered before the upload could have finished
    gw.realtime179.drain()

    (payload,) = customs.received
    signed, data = received_signing_string(payload)
    assert list(data) == ["sessionID", "payExchangeInfoHead", "payExchangeInfoLists", "serviceTime", "certNo",
                          "signValue"]
    head = data["payExchangeInfoHead"]
    assert head["initalRequest"] == RAW["initalRequest"] and head["initalResponse"] == RAW["initalResponse"]
    assert (head["ebpCode"], head["payCode"], head["payTransactionId"]) == \
        ("46121601BC", "312226T001", "2026112022001456780001")
    assert node_text(node_text(payload, "payExchangeInfoHead"), "totalAmount") == "434.22"   # as submitted
    assert head["currency"] == "142" and head["tradingTime"] == "20261120101602"
    assert head["guid"] == head["guid"].upper() and len(head["guid"]) == 36
    (entry,) = data["payExchangeInfoLists"]
    assert entry["orderNo"] == "HT20261120000101"
    assert entry["goodsInfo"] == [{"gname": "兰蔻菁纯面霜", "itemLink": "https://shop.example.cn/item/LAN-001"}]
    assert data["sessionID"] == "SID-0001" and isinstance(data["serviceTime"], int)
    assert int(data["certNo"], 16) == material.certificate.serial_number
    # the same string as the gateway's own construction (§9.3)
    assert signed.decode() == signing_string("SID-0001", node_text(payload, "payExchangeInfoHead"),
                                             node_text(payload, "payExchangeInfoLists"), data["serviceTime"])
    value = base64.b64decode(data["signValue"])
    if key_type == "sm2":
        assert len(value) == 64
        pub = openssl("x509", "-pubkey", "-noout", data=material.certificate.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "pub.pem").write_bytes(pub.stdout)
        (tmp_path / "sig").write_bytes(raw_to_der(value))
        (tmp_path / "msg").write_bytes(signed)
        result = openssl("dgst", "-sm3", "-verify", str(tmp_path / "pub.pem"), "-sigopt", "distid:1234567812345678",
                         "-signature", str(tmp_path / "sig"), str(tmp_path / "msg"))
        assert result.returncode == 0, result.stderr
    else:
        material.certificate.public_key().verify(value, signed, padding.PKCS1v15(), hashes.SHA1())
    with gw.uow_factory() as uow:
        actions = [e.action for e in uow.session.scalars(select(m.AuditEvent))]
    assert "payment_raw.stored" in actions and "realtime179.uploaded" in actions


def test_missing_payment_data_is_reported_not_crashed(tmp_path, sqlite_url, signing_key, customs, caplog):
    gw, client, auth, order_id, tenant = gateway_with(tmp_path, sqlite_url, signing_key, customs, rsa_material())
    with caplog.at_level(logging.ERROR, logger="gateway.service.realtime179"):
        r = client.post(open_url(tenant), data={"openReq": json.dumps(
            {"orderNo": "HT20261120000101", "sessionID": "S2", "serviceTime": 1})})
        assert r.get_json()["code"] == "10000"
        gw.realtime179.drain()
    assert customs.received == []
    assert any("no raw payment data stored" in rec.getMessage() for rec in caplog.records)
    bad = client.post(open_url(tenant), data={"openReq": "not json"}).get_json()
    assert bad["code"] == "20000"
    result = gw.realtime179.upload(tenant, "NO-SUCH-ORDER", "S3")
    assert not result.ok and "not found" in result.error


def test_payment_raw_is_validated_and_tenant_scoped(tmp_path, sqlite_url, signing_key, customs):
    gw, client, auth, order_id, tenant = gateway_with(tmp_path, sqlite_url, signing_key, customs, rsa_material())
    r = client.post(f"/v1/orders/{order_id}/payment-raw", json={**RAW, "verDept": "9"}, headers=auth)
    assert r.status_code == 422 and "verDept" in r.get_json()["detail"]
    r = client.post(f"/v1/orders/{order_id}/payment-raw", json={k: v for k, v in RAW.items() if k != "itemLinks"},
                    headers=auth)
    assert r.status_code == 422 and "goodsInfo" in r.get_json()["detail"]
    assert client.post(f"/v1/orders/{order_id}/payment-raw", json=RAW).status_code == 401
    _, other_key = add_tenant(gw, "Tenant B")
    r = client.post(f"/v1/orders/{order_id}/payment-raw", json=RAW, headers={"Authorization": f"Bearer {other_key}"})
    assert r.status_code == 404
