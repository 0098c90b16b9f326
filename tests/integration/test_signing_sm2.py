"""SM2/SM3 signatures (ceb-messages.md §8): every variant signed by us and checked by independent
SM2 implementations (the openssl command line; gmssl), and the other way round."""
from __future__ import annotations

import base64
import itertools

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from gateway.signing import (
    RSA_SHA256,
    SM2_SM3,
    SM2_SM3_SHA1_DIGEST,
    SM2_SM3_W3C,
    SM2_SM3_W3C_SHA1_DIGEST,
    SM2_VARIANTS,
    Expectation,
    SignatureInvalid,
    SignerIdentity,
    SigningError,
    Sm2Options,
    XmlSigner,
    by_name,
    ensure_dev_key,
    load_key_material,
    sm2,
    verify,
    verify_with,
)
from gateway.signing.algorithms import DIGEST_VALUE
from tests.signing_tools import (
    OpenSslSm2Backend,
    gmssl_verify_raw,
    openssl,
    openssl_public_point,
    openssl_sm2_key_and_cert,
    openssl_verify_sm2_xml,
    pieces,
    require_openssl_sm2,
)

CEB_DOCUMENT = """\
<ceb:CEB621Message xmlns:ceb="http://www.chinaport.gov.cn/ceb" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" guid="4CDE1CFD-EDED-46B1-946C-B8022E42FC94" version="1.0">
    <ceb:Inventory>
        <ceb:InventoryHead>
            <ceb:orderNo>ORDER-20240101-0001</ceb:orderNo>
            <ceb:ebpName>海南星创互联网医药有限公司</ceb:ebpName>
        </ceb:InventoryHead>
    </ceb:Inventory>
    <ceb:BaseTransfer>
        <ceb:copCode>46121601BC</ceb:copCode>
        <ceb:dxpId>DXPENT0000458763</ceb:dxpId>
    </ceb:BaseTransfer>
</ceb:CEB621Message>
""".encode()
URIS = {
    "chinaport_sm2": "http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3",
    "w3c_sm2": "http://www.w3.org/2000/09/xmldsig#sm2-sm3",
    "sm3": "http://www.chinaport.gov.cn/2022/04/xmldsig#sm3",
    "sha1": "http://www.w3.org/2000/09/xmldsig#sha1",
}


@pytest.fixture(scope="module", autouse=True)
def openssl_cli():
    return require_openssl_sm2()


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    return ensure_dev_key(tmp_path_factory.mktemp("sm2"), key_type="sm2")


def doc():
    return etree.fromstring(CEB_DOCUMENT)


@pytest.mark.parametrize("algorithms,encoding", list(itertools.product(SM2_VARIANTS, ["raw", "der"])),
                         ids=[f"{a.name}-{e}" for a, e in itertools.product(SM2_VARIANTS, ["raw", "der"])])
def test_every_variant_verifies_with_openssl_and_with_us(key, algorithms, encoding):
    options = Sm2Options(encoding=encoding)
    signed = XmlSigner(algorithms, sm2=options).sign(doc(), key)
    assert openssl_verify_sm2_xml(signed, encoding=encoding) == (True, "Verified OK")
    result = verify_with(signed, Expectation(allowed=(algorithms,), sm2=options, trusted_certificates=(key.certificate,)))
    assert result.algorithms == algorithms
    value = pieces(signed)["signature_value"]
    assert len(value) == 64 if encoding == "raw" else value[0] == 0x30


def test_default_variant_is_the_202205_standard_with_raw_values(key):
    signed = XmlSigner(by_name("sm2-sm3")).sign(doc(), key)
    root = etree.fromstring(signed)
    info = root[-1][0]
    assert info[1].get("Algorithm") == URIS["chinaport_sm2"]
    assert info[2][1].get("Algorithm") == URIS["sm3"]
    value_text = root[-1][1].text
    assert len(value_text) == 88 and len(base64.b64decode(value_text)) == 64     # raw r||s, 88 base64 chars
    assert root[-1][2][0].text == key.key_name
    # the certificate in KeyInfo is a real SM2 X.509 certificate: openssl checks its self-signature
    cert = root[-1][2][1][0].text
    pem = "-----BEGIN CERTIFICATE-----\n" + cert + "\n-----END CERTIFICATE-----\n"
    text = openssl("x509", "-noout", "-text", data=pem.encode()).stdout.decode()
    assert "SM2-with-SM3" in text and "ASN1 OID: SM2" in text


def test_uris_of_the_variants():
    assert (SM2_SM3.signature_method, SM2_SM3.digest_method) == (URIS["chinaport_sm2"], URIS["sm3"])
    assert (SM2_SM3_SHA1_DIGEST.signature_method, SM2_SM3_SHA1_DIGEST.digest_method) == (URIS["chinaport_sm2"], URIS["sha1"])
    assert (SM2_SM3_W3C.signature_method, SM2_SM3_W3C.digest_method) == (URIS["w3c_sm2"], URIS["sm3"])
    assert (SM2_SM3_W3C_SHA1_DIGEST.signature_method, SM2_SM3_W3C_SHA1_DIGEST.digest_method) == \
        (URIS["w3c_sm2"], URIS["sha1"])


def test_dev_certificate_verifies_with_openssl(key, tmp_path):
    pem = tmp_path / "cert.pem"
    pem.write_bytes(key.certificate.public_bytes(Encoding.PEM))
    result = openssl("verify", "-CAfile", str(pem), str(pem))
    assert result.returncode == 0, result.stderr
    assert openssl_public_point(key.certificate.public_bytes(Encoding.DER)) == key.private_key.public_key.point


def test_gmssl_verifies_our_signature_value(key):
    """A second independent library (pure Python, another code base) on the raw r||s value."""
    signed = XmlSigner(SM2_SM3).sign(doc(), key)
    p = pieces(signed)
    assert gmssl_verify_raw(key.private_key.public_key.point, p["signature_value"], p["signed_info"])
    assert not gmssl_verify_raw(key.private_key.public_key.point, p["signature_value"], p["signed_info"] + b" ")


def test_one_changed_byte_is_caught_by_openssl_and_by_us(key):
    signed = XmlSigner(SM2_SM3).sign(doc(), key)
    position = signed.index(b"ORDER-20240101-0001") + 5
    tampered = signed[:position] + b"X" + signed[position + 1:]
    assert openssl_verify_sm2_xml(tampered) == (False, "digest differs")
    with pytest.raises(SignatureInvalid, match="digest mismatch"):
        verify(tampered)
    # a changed signature value (digest intact)
    root = etree.fromstring(signed)
    value = bytearray(base64.b64decode(root[-1][1].text))
    value[10] ^= 1
    root[-1][1].text = base64.b64encode(bytes(value)).decode()
    forged = b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root, encoding="UTF-8")
    ok, _ = openssl_verify_sm2_xml(forged)
    assert not ok
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verify(forged)


def test_a_key_and_certificate_made_by_openssl_sign_and_verify(tmp_path):
    key_file, cert_file = openssl_sm2_key_and_cert(tmp_path)
    material = load_key_material(key_file, cert_file)
    assert material.key_type == "sm2"
    signed = XmlSigner(SM2_SM3).sign(doc(), material)
    assert openssl_verify_sm2_xml(signed) == (True, "Verified OK")
    assert verify(signed, trusted_certificates=[material.certificate]).key_name == material.key_name


def test_we_verify_signatures_made_by_openssl(tmp_path):
    """The other direction: the signature value comes from the openssl command line."""
    key_file, cert_file = openssl_sm2_key_and_cert(tmp_path)
    material = load_key_material(key_file, cert_file)
    signer = XmlSigner(SM2_SM3, backend=OpenSslSm2Backend(key_file, SignerIdentity.of(material.certificate)))
    signed = signer.sign(doc(), None)
    assert verify(signed, trusted_certificates=[material.certificate]).algorithms == SM2_SM3


def test_a_non_default_user_id(key):
    options = Sm2Options(user_id=b"ALICE123@YAHOO.COM")
    signed = XmlSigner(SM2_SM3, sm2=options).sign(doc(), key)
    assert openssl_verify_sm2_xml(signed, user_id=b"ALICE123@YAHOO.COM") == (True, "Verified OK")
    assert not openssl_verify_sm2_xml(signed)[0]                     # not with the default ID
    verify_with(signed, Expectation(sm2=options))
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verify(signed)


def test_digest_value_as_signed_input(key):
    signer = XmlSigner(SM2_SM3, signed_input=DIGEST_VALUE)
    signed = signer.sign(doc(), key)
    assert openssl_verify_sm2_xml(signed, signed_input=DIGEST_VALUE) == (True, "Verified OK")
    verify_with(signed, Expectation(signed_input=DIGEST_VALUE))
    with pytest.raises(SignatureInvalid):
        verify(signed)                     # the default expectation is the standard SignedInfo


def test_both_engines_agree(key):
    """tongsuopy (C) and gmssl (pure Python) each verify what the other signed."""
    if not sm2.TONGSUO:
        pytest.skip("tongsuopy is not installed on this platform; only the pure-Python engine runs")
    private = key.private_key
    message = b"<ds:SignedInfo>...</ds:SignedInfo>"
    fast = private.sign(message)
    slow = sm2._gmssl_sign(private, sm2.sm3(private.public_key.z(sm2.DEFAULT_USER_ID) + message))
    public = private.public_key
    for value in (fast, slow):
        assert public.verify(value, message)
        assert sm2._gmssl_verify(public, value, sm2.sm3(public.z(sm2.DEFAULT_USER_ID) + message))
        assert not public.verify(value, message + b"x")


def test_expectations_refuse_what_was_not_agreed(key, signing_key):
    signed = XmlSigner(SM2_SM3).sign(doc(), key)
    with pytest.raises(SignatureInvalid, match="algorithms not allowed"):
        verify(signed, allowed=(RSA_SHA256,))
    with pytest.raises(SignatureInvalid, match="expected raw"):
        verify_with(XmlSigner(SM2_SM3, sm2=Sm2Options(encoding="der")).sign(doc(), key), Expectation())
    with pytest.raises(SignatureInvalid, match="not a DER signature"):
        verify_with(signed, Expectation(sm2=Sm2Options(encoding="der")))
    with pytest.raises(SignatureInvalid, match="not a trusted certificate"):
        verify(signed, trusted_certificates=[signing_key.certificate])


def test_keys_and_algorithms_must_match(key, signing_key):
    with pytest.raises(SigningError, match="uses SM2, but the key"):
        XmlSigner(SM2_SM3).sign(doc(), signing_key)
    with pytest.raises(SigningError, match="uses RSA, but the key"):
        XmlSigner(RSA_SHA256).sign(doc(), key)


def test_sm2_keys_never_print_and_never_pickle(key):
    import pickle
    assert "_d" not in repr(key.private_key) and str(key.private_key._d) not in repr(key)
    with pytest.raises(TypeError):
        pickle.dumps(key.private_key)


def test_der_conversion_round_trips():
    for _ in range(20):
        raw = sm2.Sm2PrivateKey.generate().sign(b"x")
        assert sm2.from_der(sm2.to_der(raw)) == raw
    with pytest.raises(sm2.der.DerError):
        sm2.from_der(b"\x30\x06\x02\x01\x00\x02\x01")
