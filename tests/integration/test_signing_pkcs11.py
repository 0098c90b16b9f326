"""PKCS#11 signing against SoftHSM2 standing in for a UKey/HSM: a token initialised in a tmp dir,
an RSA key imported (non-extractable), signatures made through PKCS#11 and verified with xmlsec1
using the plain certificate, and by our verifier."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from gateway.signing import RSA_SHA1, RSA_SHA256, SigningError, XmlSigner, verify
from gateway.signing.pkcs11 import Pkcs11Backend
from tests.softhsm import LABEL, MODULE, PIN, TOKEN, token_with_key

DOCUMENT = ('<ceb:CEB311Message xmlns:ceb="http://www.chinaport.gov.cn/ceb" guid="G" version="1.0">'
            "<ceb:Order><ceb:orderNo>ORDER-1</ceb:orderNo><ceb:note>海关</ceb:note></ceb:Order>"
            "</ceb:CEB311Message>").encode()


def _missing(message: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " CI=true: this is a failure, not a skip.")
    pytest.skip(message)


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    """A SoftHSM2 token in a tmp dir with the dev RSA key imported under LABEL (and its certificate)."""
    if not Path(MODULE).exists() or shutil.which("softhsm2-util") is None:
        _missing("SoftHSM2 NOT INSTALLED: the PKCS#11 tests did NOT run (./dev setup installs softhsm2).")
    with token_with_key(tmp_path_factory.mktemp("softhsm"), "Token signer") as key:
        yield key


@pytest.fixture(scope="module")
def backend(token):
    b = Pkcs11Backend(MODULE, token_label=TOKEN, pin=PIN, algorithms=RSA_SHA256)
    yield b
    b.close()


def xmlsec1_with_plain_certificate(signed: bytes, certificate_pem: Path, tmp: Path) -> subprocess.CompletedProcess:
    xmlsec1 = shutil.which("xmlsec1")
    if xmlsec1 is None:
        _missing("xmlsec1 NOT FOUND: the independent check did NOT run.")
    document = tmp / "signed.xml"
    document.write_bytes(signed)
    return subprocess.run([xmlsec1, "--verify", "--pubkey-cert-pem", str(certificate_pem), str(document)],
                          capture_output=True, text=True, timeout=30)


def test_token_signature_verifies_with_xmlsec1_and_the_plain_certificate(backend, token, tmp_path):
    signed = XmlSigner(RSA_SHA256, backend=backend).sign(etree.fromstring(DOCUMENT), LABEL)
    plain = tmp_path / "plain.pem"
    plain.write_bytes(token.certificate.public_bytes(serialization.Encoding.PEM))   # not from the token
    result = xmlsec1_with_plain_certificate(signed, plain, tmp_path)
    assert result.returncode == 0, result.stderr
    assert verify(signed, trusted_certificates=[token.certificate]).key_name == token.key_name
    # the same bytes as a software signature with the same key (PKCS#1 v1.5 is deterministic)
    assert signed == XmlSigner(RSA_SHA256).sign(etree.fromstring(DOCUMENT), token)
    tampered = signed.replace(b"ORDER-1", b"ORDER-2")
    assert xmlsec1_with_plain_certificate(tampered, plain, tmp_path).returncode != 0


def test_rsa_sha1_through_the_token(token, tmp_path):
    backend = Pkcs11Backend(MODULE, token_label=TOKEN, pin=PIN, algorithms=RSA_SHA1)
    try:
        signed = XmlSigner(RSA_SHA1, backend=backend).sign(etree.fromstring(DOCUMENT), LABEL)
    finally:
        backend.close()
    plain = tmp_path / "plain.pem"
    plain.write_bytes(token.certificate.public_bytes(serialization.Encoding.PEM))
    assert xmlsec1_with_plain_certificate(signed, plain, tmp_path).returncode == 0
    assert verify(signed).algorithms == RSA_SHA1


def test_the_private_key_cannot_leave_the_token(backend, token):
    import pkcs11
    key = backend._key(LABEL)
    assert key[pkcs11.Attribute.SENSITIVE] and not key[pkcs11.Attribute.EXTRACTABLE]
    with pytest.raises(pkcs11.exceptions.PKCS11Error):
        key[pkcs11.Attribute.PRIVATE_EXPONENT]


def test_a_dropped_session_is_reopened(backend):
    signer = XmlSigner(RSA_SHA256, backend=backend)
    backend._session.close()                          # as if the token had gone away and come back
    assert verify(signer.sign(etree.fromstring(DOCUMENT), LABEL))
    assert backend.health()["ok"]


def test_clear_errors(backend, token):
    with pytest.raises(SigningError, match="0 certificates labelled 'nope'"):
        XmlSigner(RSA_SHA256, backend=backend).sign(etree.fromstring(DOCUMENT), "nope")
    with pytest.raises(SigningError, match="no private key labelled 'nope'"):
        backend.sign(b"data", "nope")
    backend.close()     # PKCS#11 logins are per process and token: log out before trying a wrong PIN
    with pytest.raises(SigningError, match="wrong PIN"):
        Pkcs11Backend(MODULE, token_label=TOKEN, pin="00000000", algorithms=RSA_SHA256)
    with pytest.raises(SigningError, match="not found"):
        Pkcs11Backend(MODULE, token_label="no-such-token", pin=PIN, algorithms=RSA_SHA256)
    assert "87654321" not in repr(backend)
