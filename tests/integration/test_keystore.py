"""The tenant key store on real databases: encrypted at rest, imports checked, rotation without
downtime, validity warnings, start-up refusal, and the service choosing the tenant's key; then the
byte-exact path sign -> store -> reload -> send (sandbox) -> verify at the far end, RSA and SM2."""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import select

from gateway.api import create_app
from gateway.config import ConfigError, Settings
from gateway.ports import FixedClock
from gateway.signing import SigningError, verify
from gateway.signing.keystore import KeyEncryptor, KeystoreError, load_material, new_master_key
from gateway.store import models as m
from tests.helpers import START, add_tenant, fixture_text
from tests.signing_tools import (
    MASTER,
    make,
    openssl,
    openssl_sm2_key_and_cert,
    openssl_verify_sm2_xml,
    require_openssl_sm2,
    rsa_material,
    sm2_material,
)


@pytest.fixture
def env(tmp_path, sqlite_url, signing_key):
    """SQLite only (PostgreSQL set-up costs seconds per test); the tests that store and reload
    key rows run on both databases through ``db_url``."""
    gw, sandbox = make(tmp_path, sqlite_url, signing_key)
    tenant, api_key = add_tenant(gw)
    return gw, sandbox, tenant, api_key


# ---- encryption at rest ----------------------------------------------------------------------

def test_private_keys_are_stored_encrypted_and_bound_to_their_row(tmp_path, db_url, signing_key):
    gw, _ = make(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    material = rsa_material()
    gw.keystore.import_key(tenant, material)
    plain = material.private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption())
    exponent = material.private_key.private_numbers().d.to_bytes(256, "big")
    with gw.uow_factory() as uow:
        row = uow.session.scalars(select(m.SigningKey)).one()
        stored = bytes(row.private_key)
        assert plain not in stored and exponent not in stored and plain[-64:] not in stored
        assert "private_key" not in repr(row) and stored.startswith(b"GK1")
    # a fresh store (no cache) decrypts it
    fresh = type(gw.keystore)(gw.uow_factory, KeyEncryptor.from_text(MASTER), gw.clock)
    assert fresh.key_for(tenant).key_name == material.key_name
    # another master key cannot; a ciphertext moved to another row does not decrypt
    other = type(gw.keystore)(gw.uow_factory, KeyEncryptor.from_text(new_master_key()), gw.clock)
    with pytest.raises(KeystoreError, match="encrypted with master key"):
        other.key_for(tenant)
    second = rsa_material("Second")
    gw.keystore.rotate(tenant, second, active_from=START + timedelta(days=1))
    with gw.uow_factory() as uow:
        rows = uow.session.scalars(select(m.SigningKey).order_by(m.SigningKey.active_from)).all()
        rows[1].private_key = rows[0].private_key
        uow.commit()
    again = type(gw.keystore)(gw.uow_factory, KeyEncryptor.from_text(MASTER), gw.clock)
    with pytest.raises(KeystoreError, match="does not decrypt"):
        again.key_for(tenant, at=START + timedelta(days=2))


def test_master_key_format_is_checked():
    with pytest.raises(KeystoreError, match="32 bytes"):
        KeyEncryptor.from_text(base64.b64encode(b"short").decode())
    with pytest.raises(KeystoreError, match="not valid base64"):
        KeyEncryptor.from_text("***")
    assert "key_id" in repr(KeyEncryptor.from_text(MASTER)) and MASTER not in repr(KeyEncryptor.from_text(MASTER))
    assert MASTER not in repr(Settings(keystore_key=MASTER))


def test_refuses_to_start_without_or_with_another_master_key(tmp_path, sqlite_url, signing_key):
    db_url = sqlite_url
    gw, _ = make(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    gw.keystore.import_key(tenant, rsa_material())
    with pytest.raises(ConfigError, match="GATEWAY_KEYSTORE_KEY is not set"):
        make(tmp_path, db_url, signing_key, master=None)
    with pytest.raises(ConfigError, match="not the master key"):
        make(tmp_path, db_url, signing_key, master=new_master_key())
    make(tmp_path, db_url, signing_key)                  # the right key starts


def test_without_a_master_key_nothing_can_be_imported(tmp_path, sqlite_url, signing_key):
    db_url = sqlite_url
    gw, _ = make(tmp_path, db_url, signing_key, master=None)   # empty store: starts
    tenant, _ = add_tenant(gw)
    with pytest.raises(KeystoreError, match="needs GATEWAY_KEYSTORE_KEY"):
        gw.keystore.import_key(tenant, rsa_material())


# ---- import --------------------------------------------------------------------------------

def test_pkcs12_and_pem_imports_check_the_key_against_the_certificate(env, tmp_path):
    gw, _, tenant, _ = env
    material = rsa_material()
    p12 = pkcs12.serialize_key_and_certificates(b"t", material.private_key, material.certificate, None,
                                                serialization.BestAvailableEncryption(b"secret"))
    loaded = load_material(pkcs12_data=p12, password=b"secret")
    assert loaded.key_name == material.key_name
    with pytest.raises(SigningError, match="wrong password"):
        load_material(pkcs12_data=p12, password=b"nope")
    other = rsa_material("Other")
    key_pem = material.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.BestAvailableEncryption(b"pw"))
    with pytest.raises(SigningError, match="does not match"):
        load_material(key_pem=key_pem, cert_pem=other.certificate.public_bytes(serialization.Encoding.PEM),
                      password=b"pw")
    info = gw.keystore.import_key(tenant, loaded, label="from p12")
    assert info.state == "active" and info.key_type == "rsa" and info.label == "from p12"
    with pytest.raises(KeystoreError, match="already has a key on channel ceb; use rotate"):
        gw.keystore.import_key(tenant, other)
    with pytest.raises(KeystoreError, match="already has the key"):
        gw.keystore.rotate(tenant, loaded)
    with pytest.raises(KeystoreError, match="unknown tenant"):
        gw.keystore.import_key("NOPE", other)


def test_sm2_pem_from_openssl_encrypted_imports(env, tmp_path):
    require_openssl_sm2()
    gw, _, tenant, _ = env
    key_file, cert_file = openssl_sm2_key_and_cert(tmp_path)
    encrypted = openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", str(key_file), "-passout", "pass:pw").stdout
    assert b"ENCRYPTED PRIVATE KEY" in encrypted
    material = load_material(key_pem=encrypted, cert_pem=cert_file.read_bytes(), password=b"pw")
    assert material.key_type == "sm2"
    info = gw.keystore.import_key(tenant, material, channel="ceb")
    assert info.key_type == "sm2" and info.state == "not-yet-valid"    # openssl made it "now", after START
    fresh = type(gw.keystore)(gw.uow_factory, KeyEncryptor.from_text(MASTER), gw.clock)
    now = datetime.now(UTC)
    assert fresh.key_for(tenant, at=now).private_key.public_key == material.private_key.public_key


def test_expired_certificates_are_refused(env):
    gw, _, tenant, _ = env
    with pytest.raises(KeystoreError, match="expired"):
        gw.keystore.import_key(tenant, rsa_material(days=10, not_before=START - timedelta(days=30)))


# ---- rotation and validity -----------------------------------------------------------------

def test_rotation_without_downtime_keeps_the_old_key_for_verification(env):
    gw, _, tenant, _ = env
    old, new = rsa_material("Old"), rsa_material("New", days=730)
    gw.keystore.import_key(tenant, old)
    switch = START + timedelta(hours=6)
    gw.keystore.rotate(tenant, new, active_from=switch)
    assert gw.keystore.key_for(tenant, at=switch - timedelta(seconds=1)).key_name == old.key_name
    assert gw.keystore.key_for(tenant, at=switch).key_name == new.key_name
    states = {i.key_name: i.state for i in gw.keystore.list(tenant)}
    assert states == {old.key_name: "active", new.key_name: "scheduled"}
    later = type(gw.keystore)(gw.uow_factory, KeyEncryptor.from_text(MASTER), FixedClock(switch + timedelta(days=1)))
    assert {i.key_name: i.state for i in later.list(tenant)} == {old.key_name: "superseded", new.key_name: "active"}
    assert {c.serial_number for c in gw.keystore.certificates(tenant)} == {old.certificate.serial_number,
                                                                         new.certificate.serial_number}
    with pytest.raises(KeystoreError, match="no key on channel other to rotate"):
        gw.keystore.rotate(tenant, rsa_material(), channel="other")


def test_warning_before_expiry_and_error_once_every_key_expired(env):
    gw, _, tenant, _ = env
    soon = rsa_material("Soon", days=21)                      # valid from START-1d: 20 days left
    info = gw.keystore.import_key(tenant, soon)
    assert info.days_left == 19 or info.days_left == 20
    assert any("expires in" in w and "rotate now" in w for w in info.warnings)
    after = START + timedelta(days=30)
    with pytest.raises(KeystoreError, match="no usable signing key"):
        gw.keystore.key_for(tenant, at=after)
    successor = rsa_material("Successor", days=400)
    gw.keystore.rotate(tenant, successor, active_from=START + timedelta(days=10))
    warnings = [w for i in gw.keystore.list(tenant) for w in i.warnings]
    assert warnings and not any("rotate now" in w for w in warnings)   # successor scheduled


# ---- the service chooses the tenant's key ---------------------------------------------------

def test_orders_are_signed_with_the_tenants_key_else_the_gateway_key(env, signing_key):
    gw, sandbox, tenant, _ = env
    other_tenant, _ = add_tenant(gw, "Tenant B", cop_code="4601980ABD")
    material = rsa_material("Tenant A signer")
    gw.keystore.import_key(tenant, material)
    mine = gw.submit(tenant, fixture_text("1210-single-line.json"))
    theirs = gw.submit(other_tenant, fixture_text("1210-six-lines.json"))
    for filing_id in mine.filing_ids.values():
        verify(gw.filing_bytes(tenant, filing_id)[1], trusted_certificates=[material.certificate])
    for filing_id in theirs.filing_ids.values():
        verify(gw.filing_bytes(other_tenant, filing_id)[1], trusted_certificates=[signing_key.certificate])


def test_a_key_imported_or_rotated_by_another_gateway_signs_the_next_order(env, tmp_path, sqlite_url, signing_key):
    """The key is chosen in the order's plan transaction from the rows as they are then: a key imported, then
    rotated, through another Gateway on the same database (another process) between two orders signs the
    second one; the decrypted keys this gateway already holds do not hide it."""
    gw, _, tenant, _ = env
    elsewhere, _ = make(tmp_path / "elsewhere", sqlite_url, signing_key)

    def signed_with(submitted):
        return [gw.filing_bytes(tenant, fid)[1] for fid in submitted.filing_ids.values()]

    def number(suffix):
        data = json.loads(fixture_text("1210-single-line.json"))
        data["order_no"] = f"{data['order_no']}-{suffix}"
        return json.dumps(data, ensure_ascii=False)

    for xml in signed_with(gw.submit(tenant, number("gateway"))):
        verify(xml, trusted_certificates=[signing_key.certificate])
    first, second = rsa_material("Imported elsewhere"), rsa_material("Rotated elsewhere", days=730)
    elsewhere.keystore.import_key(tenant, first)
    for xml in signed_with(gw.submit(tenant, number("first"))):
        verify(xml, trusted_certificates=[first.certificate])
    elsewhere.keystore.rotate(tenant, second)
    for xml in signed_with(gw.submit(tenant, number("second"))):
        verify(xml, trusted_certificates=[second.certificate])
        with pytest.raises(SigningError):
            verify(xml, trusted_certificates=[first.certificate])


def test_api_lists_the_tenants_keys_with_validity(env):
    gw, _, tenant, api_key = env
    client = create_app(gw, {"TESTING": True}).test_client()
    headers = {"Authorization": f"Bearer {api_key}"}
    body = client.get("/v1/keys", headers=headers).get_json()
    assert body["keys"] == [] and body["signing_with"] == "gateway key"
    gw.keystore.import_key(tenant, rsa_material("Soon", days=15))
    body = client.get("/v1/keys", headers=headers).get_json()
    (key,) = body["keys"]
    assert key["state"] == "active" and key["not_after"] and body["signing_with"] == "tenant key"
    assert "private" not in json.dumps(body).lower()
    assert body["warnings"] and "expires in" in body["warnings"][0]
    assert client.get("/v1/keys").status_code == 401
    other_tenant, other_api_key = add_tenant(gw, "Tenant B")
    assert client.get("/v1/keys", headers={"Authorization": f"Bearer {other_api_key}"}).get_json()["keys"] == []


# ---- byte-exactness: sign, store, reload, send, verify at the far end ----------------------

@pytest.mark.parametrize("key_type", ["rsa", "sm2"])
def test_signed_bytes_travel_unchanged_to_the_far_end(tmp_path, db_url, signing_key, key_type):
    if key_type == "sm2":
        require_openssl_sm2()
        material = sm2_material()
    else:
        material = rsa_material("Byte-exact signer")
    # the sandbox government trusts only the tenant's certificate
    gw, sandbox = make(tmp_path, db_url, signing_key, sandbox_trusts=[material.certificate])
    tenant, _ = add_tenant(gw)
    gw.keystore.import_key(tenant, material)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    # reload from the database in a fresh process-like gateway (new KeyStore, no caches)
    gw2, _ = make(tmp_path, db_url, signing_key)
    stored = {}
    with gw2.uow_factory() as uow:
        for filing_id in sub.filing_ids.values():
            f = uow.filings.get(tenant, filing_id)
            stored[f.guid] = bytes(f.signed_bytes)
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "released", view                    # the far end verified every signature
    for guid, data in stored.items():
        received = sandbox.received_bytes(guid)
        assert received == data
        result = verify(received, trusted_certificates=[material.certificate])
        assert result.algorithms.key_type == key_type
        if key_type == "sm2":
            assert openssl_verify_sm2_xml(received) == (True, "Verified OK")


# ---- the command line ---------------------------------------------------------------------------

def test_cli_import_list_rotate(tmp_path, sqlite_url, signing_key, monkeypatch, capsys):
    from gateway.cli import main

    monkeypatch.setenv("GATEWAY_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("GATEWAY_KEYSTORE_KEY", raising=False)
    gw, _ = make(tmp_path, sqlite_url, signing_key)
    tenant, _ = add_tenant(gw)
    first, second = rsa_material("CLI first", days=800, not_before=datetime.now(UTC) - timedelta(days=1)), \
        rsa_material("CLI second", days=900, not_before=datetime.now(UTC) - timedelta(days=1))
    files = {}
    for name, material in (("first", first), ("second", second)):
        files[name] = (tmp_path / f"{name}.key", tmp_path / f"{name}.crt")
        files[name][0].write_bytes(material.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")))
        files[name][1].write_bytes(material.certificate.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setenv("KEY_PASSWORD", "pw")
    args = ["keys", "import", tenant, "--key", str(files["first"][0]), "--cert", str(files["first"][1]),
            "--password-env", "KEY_PASSWORD"]
    assert main(args) == 2                                     # no master key: refused
    assert "GATEWAY_KEYSTORE_KEY" in capsys.readouterr().err
    monkeypatch.setenv("GATEWAY_KEYSTORE_KEY", MASTER)
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "active"
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert main(["keys", "rotate", tenant, "--key", str(files["second"][0]), "--cert", str(files["second"][1]),
                 "--password-env", "KEY_PASSWORD", "--active-from", later]) == 0
    capsys.readouterr()
    assert main(["keys", "list", tenant, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["state"] for k in listed] == ["active", "scheduled"]
    assert main(["keys", "new-master-key"]) == 0
    assert len(base64.b64decode(capsys.readouterr().out.strip())) == 32


def test_submitting_with_only_expired_tenant_keys_is_a_409_with_the_reason(tmp_path, sqlite_url, signing_key):
    from gateway.signing.keystore import KeyStore

    gw, _ = make(tmp_path, sqlite_url, signing_key)
    tenant, api_key = add_tenant(gw)
    gw.keystore.import_key(tenant, rsa_material("Short", days=3))
    gw.key_for.store = KeyStore(gw.uow_factory, gw.keystore.encryptor, FixedClock(START + timedelta(days=10)))
    client = create_app(gw, {"TESTING": True}).test_client()
    r = client.post("/v1/orders", data=fixture_text("1210-single-line.json").encode(),
                    headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
    assert r.status_code == 409 and "no usable signing key" in r.get_json()["detail"]
