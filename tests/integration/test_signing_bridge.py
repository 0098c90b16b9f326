"""The remote signing bridge against a real local WebSocket server in the style of the E-Port
client control (greeting, nested answers, card errors), which signs with a software key. Signatures
are checked by independent verifiers (openssl for SM2, xmlsec1 for RSA)."""
from __future__ import annotations

import base64
import json
import logging
import shutil
import socket
import subprocess
import threading
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree
from websockets.sync.server import serve

from gateway.signing import (
    RSA_SHA1,
    RSA_SHA256,
    SM2_SM3,
    SM2_SM3_W3C_SHA1_DIGEST,
    SigningError,
    XmlSigner,
    ensure_dev_key,
    verify,
)
from gateway.signing.bridge import BridgeBackend, BridgeRefused, BridgeUnavailable
from tests.signing_tools import openssl_verify_sm2_xml, require_openssl_sm2

DOCUMENT = ('<ceb:CEB621Message xmlns:ceb="http://www.chinaport.gov.cn/ceb" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" guid="G" version="1.0">'
            "<ceb:Inventory><ceb:copNo>GW1</ceb:copNo><ceb:note>清单</ceb:note></ceb:Inventory>"
            "</ceb:CEB621Message>").encode()
PASSWORD = "88888888"


class EportControl:
    """A local stand-in for the E-Port control: a real WebSocket server on 127.0.0.1 holding a key."""

    def __init__(self, key, port: int = 0):
        self.key = key
        self.delay = 0.0
        self.card_error: str | None = None
        self.drop_next = 0                  # close the connection instead of answering
        self.requests: list[dict] = []
        self.connections = 0
        self._server = serve(self._handle, "127.0.0.1", port)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def _handle(self, connection) -> None:
        self.connections += 1
        connection.send(json.dumps({"_method": "open", "_status": "00", "_args": {"Result": True}}))
        for frame in connection:
            request = json.loads(frame)
            self.requests.append(request)
            if self.drop_next:
                self.drop_next -= 1
                connection.close()
                return
            time.sleep(self.delay)
            connection.send(json.dumps({"_id": 999, "_method": "other", "_args": {"Result": True, "Data": ["x"]}}))
            connection.send(json.dumps({"_id": request["_id"], "_method": request["_method"], "_status": "00",
                                        "_args": self._answer(request)}))

    def _answer(self, request: dict) -> dict:
        if self.card_error:
            return {"Result": False, "Data": [], "Error": [self.card_error, "Err:Custom50070"]}
        cert_no = self.key.key_name          # the certificate number, as cards give it
        if request["_method"] == "cus-sec_SpcGetSignCertAsPEM":
            der = self.key.certificate.public_bytes(serialization.Encoding.DER)
            return {"Result": True, "Data": [base64.b64encode(der).decode()], "Error": []}
        if request["_method"] == "cus-sec_SpcSignDataAsPEM":
            if request["args"].get("passwd") != PASSWORD:
                return {"Result": False, "Data": [], "Error": ["口令错误 (wrong card password)"]}
            data = request["args"]["inData"].encode("utf-8")
            if self.key.key_type == "sm2":
                value = self.key.private_key.sign(data)           # SM3-with-SM2, raw r||s
            else:
                value = self.key.private_key.sign(data, padding.PKCS1v15(), hashes.SHA1())
            return {"Result": True, "Data": [base64.b64encode(value).decode(), cert_no], "Error": []}
        return {"Result": False, "Data": [], "Error": [f"unknown method {request['_method']}"]}


@pytest.fixture(scope="module")
def sm2_key(tmp_path_factory):
    return ensure_dev_key(tmp_path_factory.mktemp("bridge-sm2"), key_type="sm2")


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory):
    return ensure_dev_key(tmp_path_factory.mktemp("bridge-rsa"))


@pytest.fixture
def control(sm2_key):
    server = EportControl(sm2_key)
    yield server
    server.stop()


def bridge(url, algorithms=SM2_SM3, **kwargs):
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("backoff", 0.05)
    return BridgeBackend(url, algorithms=algorithms, password=PASSWORD, **kwargs)


def test_sm2_signature_through_the_bridge_verifies_independently(control, sm2_key):
    require_openssl_sm2()
    backend = bridge(control.url)
    for algorithms in (SM2_SM3, SM2_SM3_W3C_SHA1_DIGEST):     # 202205 URIs, and the UKey practice
        signed = XmlSigner(algorithms, backend=bridge(control.url, algorithms)).sign(etree.fromstring(DOCUMENT), None)
        assert verify(signed, trusted_certificates=[sm2_key.certificate], allowed=(algorithms,)).key_name
        assert openssl_verify_sm2_xml(signed) == (True, "Verified OK")
    signer = XmlSigner(SM2_SM3, backend=backend)
    signer.sign(etree.fromstring(DOCUMENT), None)
    signer.sign(etree.fromstring(DOCUMENT), None)
    sign_requests = [r for r in control.requests if r["_method"] == "cus-sec_SpcSignDataAsPEM"]
    assert sign_requests[-1]["args"]["inData"].startswith("<ds:SignedInfo xmlns:ceb=")   # canonical SignedInfo
    assert control.connections == 3          # one connection per backend, reused for every call
    assert backend.health(probe=False)["ok"] is True


def test_rsa_card_signs_sha1_and_xmlsec1_verifies(rsa_key, tmp_path):
    server = EportControl(rsa_key)
    try:
        signed = XmlSigner(RSA_SHA1, backend=bridge(server.url, RSA_SHA1)).sign(etree.fromstring(DOCUMENT), None)
    finally:
        server.stop()
    assert verify(signed, trusted_certificates=[rsa_key.certificate]).algorithms == RSA_SHA1
    xmlsec1 = shutil.which("xmlsec1")
    if xmlsec1:
        plain = tmp_path / "plain.pem"
        plain.write_bytes(rsa_key.certificate.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "doc.xml").write_bytes(signed)
        result = subprocess.run([xmlsec1, "--verify", "--pubkey-cert-pem", str(plain), str(tmp_path / "doc.xml")],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
    with pytest.raises(SigningError, match="rsa-sha1"):
        bridge(server.url, RSA_SHA256)


def test_timeout_raises_alerts_and_shows_in_health(control, caplog):
    backend = bridge(control.url, timeout=0.3)
    backend.certificate()
    control.delay = 1.0
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="gateway.signing.bridge"):
        with pytest.raises(BridgeUnavailable, match="did not answer"):
            backend.sign(b"<ds:SignedInfo/>")
    assert time.monotonic() - started < 0.9
    assert any("ALERT signing bridge" in r.getMessage() for r in caplog.records)
    status = backend.health(probe=False)
    assert status["ok"] is False and status["failures"] == 1 and "did not answer" in status["last_error"]
    control.delay = 0
    assert len(backend.sign(b"<ds:SignedInfo/>")) == 64          # the late answer was not mistaken for this one
    assert backend.health(probe=False)["ok"] is True


def test_a_dropped_connection_is_reopened(control):
    backend = bridge(control.url)
    backend.certificate()
    control.drop_next = 1
    assert len(backend.sign(b"<ds:SignedInfo/>")) == 64
    assert control.connections == 2


def test_bridge_down_then_back(sm2_key, caplog):
    with socket.socket() as s:                 # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = bridge(f"ws://127.0.0.1:{port}", retries=1, connect_timeout=0.5)
    with caplog.at_level(logging.ERROR, logger="gateway.signing.bridge"):
        with pytest.raises(BridgeUnavailable, match="not reachable"):
            backend.certificate()
        assert backend.health()["ok"] is False
    server = EportControl(sm2_key, port=port)
    try:
        assert backend.health()["ok"] is True
        assert backend.certificate().key_name == sm2_key.key_name
    finally:
        server.stop()


def test_card_errors_and_wrong_password_are_refusals(control):
    backend = BridgeBackend(control.url, algorithms=SM2_SM3, password="wrong", timeout=2)
    with pytest.raises(BridgeRefused, match="wrong card password"):
        backend.sign(b"<ds:SignedInfo/>")
    control.card_error = "[读卡器底层库]复位读卡器失败:错误码=50070"
    with pytest.raises(BridgeRefused, match="50070") as caught:
        bridge(control.url).sign(b"<ds:SignedInfo/>")
    assert "Err:Custom50070" in caught.value.errors
    assert PASSWORD not in repr(bridge(control.url))
