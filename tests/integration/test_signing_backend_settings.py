"""GATEWAY_SIGNING_BACKEND: the gateway's own key on a PKCS#11 token (SoftHSM2 in a tmp dir) or behind
the signing bridge (the local E-Port stand-in of test_signing_bridge), chosen from the settings. The
signed messages are checked with xmlsec1 against the token's certificate; each wrong setting is one
line naming the variable (exit code 2), the PIN is never shown."""
from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from gateway.adapters.sandbox import SandboxGovernment
from gateway.audit.checkpoint import CheckpointInvalid, checkpoint_payload, make_checkpoint, verify_detached
from gateway.bootstrap import bootstrap, check_production_keys, signing_key
from gateway.cli import main
from gateway.config import ConfigError, Settings
from gateway.ports import FixedClock, SequentialIds
from gateway.signing import RSA_SHA1, ensure_dev_key, hardware
from gateway.signing.hardware import Routing, TokenKey
from gateway.signing.pkcs11 import Pkcs11Backend
from tests.helpers import START, VALID, add_tenant, fixture_text
from tests.integration.test_signing_bridge import PASSWORD, EportControl
from tests.integration.test_signing_pkcs11 import _missing, xmlsec1_with_plain_certificate
from tests.softhsm import LABEL, MODULE, PIN, TOKEN, token_with_key

ORDER = VALID / "1210-single-line.json"
DSIG = "{http://www.w3.org/2000/09/xmldsig#}"


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    """A SoftHSM2 token in a tmp dir holding an RSA key and its certificate under LABEL, as
    test_signing_pkcs11's; the module is initialised again on this token folder (SoftHSM2 reads
    SOFTHSM2_CONF at C_Initialize) and finalised afterwards for the next module."""
    if not Path(MODULE).exists() or shutil.which("softhsm2-util") is None:
        _missing("SoftHSM2 NOT INSTALLED: the signing-backend settings tests did NOT run (./dev setup installs it).")
    import pkcs11

    base = tmp_path_factory.mktemp("softhsm-settings")
    try:
        with token_with_key(base, "Gateway token signer", reinitialize=True) as key:
            cert_pem = base / "token-cert.pem"
            cert_pem.write_bytes(key.certificate.public_bytes(serialization.Encoding.PEM))
            yield key, cert_pem
    finally:
        hardware.close_all()
        try:
            pkcs11.lib(MODULE).finalize()       # the next module initialises it on its own folder
        except pkcs11.exceptions.PKCS11Error:
            pass


@pytest.fixture
def pin_file(tmp_path):
    path = tmp_path / "pin"
    path.write_text(PIN + "\n")
    path.chmod(0o600)
    return path


def token_env(tmp_path, pin_file, **more) -> dict[str, str]:
    return {"GATEWAY_INSTANCE_DIR": str(tmp_path / "instance"), "GATEWAY_SIGNING_BACKEND": "pkcs11",
            "GATEWAY_PKCS11_MODULE": MODULE, "GATEWAY_PKCS11_TOKEN": TOKEN, "GATEWAY_PKCS11_KEY_LABEL": LABEL,
            "GATEWAY_PKCS11_PIN_FILE": str(pin_file), "GATEWAY_SIGNATURE": "rsa-sha256", **more}


def key_name_of(signed: bytes) -> str:
    return etree.fromstring(signed).find(f"{DSIG}Signature/{DSIG}KeyInfo/{DSIG}KeyName").text


def test_the_service_signs_filings_and_checkpoints_on_the_token(token, pin_file, tmp_path, caplog):
    key, cert_pem = token
    caplog.set_level(logging.DEBUG)
    settings = Settings.from_env(token_env(tmp_path, pin_file, GATEWAY_DATABASE_URL=f"sqlite:///{tmp_path}/gw.db",
                                           GATEWAY_AUTO_MIGRATE="always"))
    clock = FixedClock(START, step_seconds=1)
    sandbox = SandboxGovernment(clock=clock, ids=SequentialIds(prefix="5A4D8B00-0000-4000-9000"))
    gw = bootstrap(settings, clock=clock, ids=SequentialIds(), adapters={"sandbox": sandbox})
    assert isinstance(gw.key, TokenKey) and not hasattr(gw.key, "private_key")
    assert gw.key.key_name == key.key_name and gw.key.certificate == key.certificate
    backend = gw.declarer.signer.backend
    assert isinstance(backend, Routing) and isinstance(backend.hardware, Pkcs11Backend)
    # one backend per process: a second bootstrap (another command, the dispatcher) gets the same session
    assert bootstrap(settings, clock=clock, ids=SequentialIds(), adapters={"sandbox": sandbox}
                     ).declarer.signer.backend.hardware is backend.hardware

    tenant, _ = add_tenant(gw)                        # no key of its own: the gateway key signs its filings
    order_id = gw.submit(tenant, fixture_text("1210-single-line.json")).order_id
    with gw.uow_factory() as uow:
        filings = [bytes(f.signed_bytes) for f in uow.filings.for_order(tenant, order_id)]
    assert filings
    for signed in filings:
        assert key_name_of(signed) == key.key_name
        result = xmlsec1_with_plain_certificate(signed, cert_pem, tmp_path)
        assert result.returncode == 0, result.stderr
    tampered = filings[0].replace(b'guid="', b'guid="0', 1)
    assert tampered != filings[0] and xmlsec1_with_plain_certificate(tampered, cert_pem, tmp_path).returncode != 0

    # audit checkpoints: RSA SHA-256 made on the token too
    checkpoint = make_checkpoint("ab" * 32, 3, 7, START, gw.key)
    verify_detached(checkpoint_payload("ab" * 32, 3, 7, START), checkpoint.signature, key.certificate)

    for shown in (repr(settings), repr(gw.key), repr(backend), repr(backend.hardware), caplog.text):
        assert PIN not in shown


def test_gateway_declare_signs_with_the_token(token, pin_file, tmp_path, monkeypatch, capsys):
    _, cert_pem = token
    for name, value in token_env(tmp_path, pin_file, GATEWAY_SIGNATURE="rsa-sha1").items():
        monkeypatch.setenv(name, value)
    assert main(["declare", str(ORDER), "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    written = sorted((tmp_path / "out").glob("*.xml"))
    assert written
    for path in written:
        signed = path.read_bytes()
        assert etree.fromstring(signed).find(f"{DSIG}Signature/{DSIG}SignedInfo/{DSIG}SignatureMethod"
                                             ).get("Algorithm").endswith("rsa-sha1")
        result = xmlsec1_with_plain_certificate(signed, cert_pem, tmp_path)
        assert result.returncode == 0, result.stderr
    assert PIN not in capsys.readouterr().err
    assert main(["config", "check"]) == 0
    shown = capsys.readouterr()
    assert "GATEWAY_PKCS11_PIN_FILE" in shown.out + shown.err and PIN not in shown.out + shown.err


def test_a_production_channel_takes_the_token_key(token, pin_file, tmp_path):
    settings = Settings.from_env(token_env(tmp_path, pin_file))
    production = replace(settings, channel_environment="production", adapter="http")
    with pytest.raises(ConfigError, match="no tenant keys"):         # past the signing key: the token's counts
        check_production_keys(production, key_given=False)
    check_production_keys(replace(production, keystore_key="k" * 44), key_given=False)
    software = replace(production, signing_backend="software")
    with pytest.raises(ConfigError, match="no real signing key"):
        check_production_keys(software, key_given=False)


def _sign_in_child(backend, queue) -> None:
    try:
        parents = backend._session
        value = backend.sign(b"signed in the child", LABEL)
        # the child opened a session of its own (SoftHSM2 would also serve the parent's: not a token effect)
        queue.put(value if backend._pid == os.getpid() and backend._session is not parents else "parent's session used")
    except Exception as e:              # reported to the parent, which fails the test
        queue.put(f"{type(e).__name__}: {e}")


def test_a_forked_process_opens_its_own_session(token, pin_file, tmp_path):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key, _ = token
    settings = Settings.from_env(token_env(tmp_path, pin_file))
    backend = hardware.open_backend(hardware.BackendSpec("pkcs11", module=MODULE, token=TOKEN, key_label=LABEL,
                                                         pin=settings.pkcs11_pin), RSA_SHA1)
    backend.sign(b"in the parent first", LABEL)          # the parent's session is open and logged in
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_sign_in_child, args=(backend, queue))
    child.start()
    value = queue.get(timeout=30)
    child.join(30)
    assert isinstance(value, bytes), value
    key.certificate.public_key().verify(value, b"signed in the child", padding.PKCS1v15(), hashes.SHA1())
    # and the parent's session still works
    parent = backend.sign(b"in the parent again", LABEL)
    key.certificate.public_key().verify(parent, b"in the parent again", padding.PKCS1v15(), hashes.SHA1())


def declare_fails(monkeypatch, capsys, tmp_path, env: dict) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["declare", str(ORDER), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert PIN not in err
    return err


def test_wrong_settings_are_one_line_naming_the_variable(token, pin_file, tmp_path, monkeypatch, capsys):
    hardware.close_all()           # PKCS#11 logs in per process: log out, else a wrong PIN rides on the login
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("00000000")
    wrong.chmod(0o600)
    other = tmp_path / "other-cert.pem"          # a certificate of another key
    other.write_bytes(ensure_dev_key(tmp_path / "other").certificate.public_bytes(serialization.Encoding.PEM))
    cases = {
        f"GATEWAY_PKCS11_KEY_LABEL: the key '{LABEL}' does not match its certificate": {"GATEWAY_PKCS11_CERT": str(other)},
        "GATEWAY_PKCS11_PIN_FILE: PKCS#11 token 'gateway-test': wrong PIN": {"GATEWAY_PKCS11_PIN_FILE": str(wrong)},
        "GATEWAY_PKCS11_MODULE: must be an existing PKCS#11 module file": {"GATEWAY_PKCS11_MODULE": "/nope/libnone.so"},
        "GATEWAY_PKCS11_KEY_LABEL: no private key labelled 'no-such-key' on token 'gateway-test'":
            {"GATEWAY_PKCS11_KEY_LABEL": "no-such-key"},
        "GATEWAY_PKCS11_TOKEN: PKCS#11 token 'no-such-token' not found": {"GATEWAY_PKCS11_TOKEN": "no-such-token"},
        "GATEWAY_SIGNATURE: the pkcs11 backend signs": {"GATEWAY_SIGNATURE": "sm2-sm3"},
        "GATEWAY_PKCS11_KEY_LABEL: must be set": {"GATEWAY_PKCS11_KEY_LABEL": ""},
    }
    for expected, change in cases.items():
        err = declare_fails(monkeypatch, capsys, tmp_path, token_env(tmp_path, pin_file, **change))
        assert err.startswith(f"error: {expected}"), err
        hardware.close_all()
    loose = tmp_path / "loose-pin"
    loose.write_text(PIN)
    loose.chmod(0o644)
    err = declare_fails(monkeypatch, capsys, tmp_path, token_env(tmp_path, pin_file, GATEWAY_PKCS11_PIN_FILE=str(loose)))
    assert err.startswith("error: GATEWAY_PKCS11_PIN_FILE: ") and "chmod 0600" in err, err


@pytest.mark.parametrize("url", ["ws://192.0.2.10:61232", "ws://example.com:61232", "http://127.0.0.1:61232"])
def test_a_bridge_outside_this_machine_is_refused(url, tmp_path, monkeypatch, capsys):
    err = declare_fails(monkeypatch, capsys, tmp_path, {"GATEWAY_INSTANCE_DIR": str(tmp_path / "instance"),
                                                        "GATEWAY_SIGNING_BACKEND": "bridge",
                                                        "GATEWAY_SIGNING_BRIDGE_URL": url})
    assert err.startswith("error: GATEWAY_SIGNING_BRIDGE_URL: must be a ws:// URL"), err


def test_the_bridge_signs_the_gateways_filings(tmp_path, monkeypatch, capsys):
    key = ensure_dev_key(tmp_path / "card", common_name="Card signer")
    control = EportControl(key)
    password = tmp_path / "card-password"
    password.write_text(PASSWORD)
    password.chmod(0o600)
    cert_pem = tmp_path / "card.pem"
    cert_pem.write_bytes(key.certificate.public_bytes(serialization.Encoding.PEM))
    try:
        for name, value in {"GATEWAY_INSTANCE_DIR": str(tmp_path / "instance"), "GATEWAY_SIGNING_BACKEND": "bridge",
                            "GATEWAY_SIGNING_BRIDGE_URL": control.url, "GATEWAY_SIGNATURE": "rsa-sha1",
                            "GATEWAY_SIGNING_BRIDGE_PASSWORD_FILE": str(password)}.items():
            monkeypatch.setenv(name, value)
        assert main(["declare", str(ORDER), "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().err
        written = sorted((tmp_path / "out").glob("*.xml"))
        assert written and control.requests
        for path in written:
            result = xmlsec1_with_plain_certificate(path.read_bytes(), cert_pem, tmp_path)
            assert result.returncode == 0, result.stderr
        # the control cannot make the RSA SHA-256 signatures of audit checkpoints: refused in one line
        with pytest.raises(CheckpointInvalid, match="cannot make RSA SHA-256 signatures"):
            make_checkpoint("ab" * 32, 1, 1, START, signing_key(Settings.from_env()))
        monkeypatch.setenv("GATEWAY_SIGNATURE", "rsa-sha256")           # the control hashes SHA-1 itself
        err = declare_fails(monkeypatch, capsys, tmp_path, {})
        assert err.startswith("error: GATEWAY_SIGNATURE: the bridge"), err
        assert PASSWORD not in err
    finally:
        hardware.close_all()
        control.stop()


def test_readyz_asks_the_gateway_keys_bridge_and_is_not_ready_without_it(tmp_path, monkeypatch):
    """The gateway key behind the signing bridge: /readyz reports the bridge, and answers 503 naming the
    signing backend (not the URL, not the driver's error) once the control is gone; /metrics says the same
    in gateway_signing_backend_up."""
    from gateway.api import create_app
    key = ensure_dev_key(tmp_path / "card", common_name="Card signer")
    control = EportControl(key)
    password = tmp_path / "card-password"
    password.write_text(PASSWORD)
    password.chmod(0o600)
    try:
        settings = Settings.from_env({"GATEWAY_INSTANCE_DIR": str(tmp_path / "instance"),
                                      "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path}/gw.db",
                                      "GATEWAY_AUTO_MIGRATE": "always", "GATEWAY_SIGNING_BACKEND": "bridge",
                                      "GATEWAY_SIGNING_BRIDGE_URL": control.url, "GATEWAY_SIGNATURE": "rsa-sha1",
                                      "GATEWAY_SIGNING_BRIDGE_PASSWORD_FILE": str(password),
                                      "GATEWAY_METRICS_KEY_SHA256": hashlib.sha256(b"scraper").hexdigest()})
        gw = bootstrap(settings)
        client = create_app(gw).test_client()
        scrape = {"Authorization": "Bearer scraper"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.get_json()["checks"]["signing"] == "ok", ready.get_json()
        assert 'gateway_signing_backend_up{backend="bridge"} 1.0' in client.get("/metrics", headers=scrape).text
        control.stop()
        assert 'gateway_signing_backend_up{backend="bridge"} 0.0' in client.get("/metrics", headers=scrape).text
        gone = client.get("/readyz")
        body = gone.get_json()
        assert gone.status_code == 503 and body["checks"]["signing"] == "failing", body
        assert "the gateway key's signing backend reports unhealthy" in body["reasons"]
        assert control.url not in gone.get_data(as_text=True)
        gw.engine.dispose()
    finally:
        hardware.close_all()
        control.stop()
