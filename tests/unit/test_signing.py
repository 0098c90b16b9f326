"""gateway.signing: CEB enveloped signatures, our strict verifier, and signxml as a second opinion."""
from __future__ import annotations

import base64
import re
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from gateway.signing import (
    RSA_SHA1,
    RSA_SHA256,
    KeyMaterial,
    SignatureInvalid,
    SigningError,
    UnsupportedAlgorithm,
    XmlSigner,
    by_name,
    ensure_dev_key,
    load_key_material,
    verify,
)
from gateway.signing.algorithms import SM2_SM3
from gateway.signing.backends import software_backend
from gateway.signing.keys import DEV_CERT_FILE, DEV_KEY_FILE, serial_hex

CEB = "http://www.chinaport.gov.cn/ceb"
DS = "http://www.w3.org/2000/09/xmldsig#"
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

CEB_DOCUMENT = """\
<ceb:CEB621Message xmlns:ceb="http://www.chinaport.gov.cn/ceb" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" guid="4CDE1CFD-EDED-46B1-946C-B8022E42FC94" version="1.0">
    <ceb:Inventory>
        <ceb:InventoryHead>
            <ceb:guid>4CDE1CFD-EDED-46B1-946C-B8022E42FC95</ceb:guid>
            <ceb:orderNo>ORDER-20240101-0001</ceb:orderNo>
            <ceb:ebpName>海南星创互联网医药有限公司</ceb:ebpName>
            <ceb:consigneeAddress>海南省海口市美兰区 1 号 &amp; 2 号</ceb:consigneeAddress>
        </ceb:InventoryHead>
        <ceb:InventoryList>
            <ceb:gnum>1</ceb:gnum>
            <ceb:itemName>通用铁剂胶囊</ceb:itemName>
            <ceb:totalPrice>0.01</ceb:totalPrice>
        </ceb:InventoryList>
    </ceb:Inventory>
    <ceb:BaseTransfer>
        <ceb:copCode>46121601BC</ceb:copCode>
        <ceb:dxpId>DXPENT0000458763</ceb:dxpId>
    </ceb:BaseTransfer>
</ceb:CEB621Message>
"""


def ceb_root() -> etree._Element:
    return etree.fromstring(CEB_DOCUMENT.encode("utf-8"))


def c14n(node) -> bytes:
    return etree.tostring(node, method="c14n", with_comments=False)


def ds(name: str) -> str:
    return f"{{{DS}}}{name}"


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> KeyMaterial:
    return ensure_dev_key(tmp_path_factory.mktemp("instance"))


@pytest.fixture(scope="module")
def other_key(tmp_path_factory) -> KeyMaterial:
    return ensure_dev_key(tmp_path_factory.mktemp("other-instance"), common_name="Someone else")


@pytest.fixture(scope="module")
def signed(key) -> bytes:
    return XmlSigner().sign(ceb_root(), key)


@pytest.fixture(scope="module")
def signed_sha256(key) -> bytes:
    return XmlSigner(RSA_SHA256).sign(ceb_root(), key)


def reason_of(data: bytes, **kwargs) -> str:
    with pytest.raises(SignatureInvalid) as caught:
        verify(data, **kwargs)
    return caught.value.reason


def reserialize(data: bytes, change) -> bytes:
    root = etree.fromstring(data)
    change(root)
    return DECLARATION + etree.tostring(root, encoding="UTF-8")


# --- signing and verifying ------------------------------------------------------------------------

def test_signed_document_verifies_and_returns_what_was_signed(signed, key):
    assert signed.startswith(DECLARATION)
    result = verify(signed, trusted_certificates=[key.certificate])
    assert result.algorithms == RSA_SHA1          # the default: what real E-Port RSA cards sign
    assert result.key_name == serial_hex(key.certificate)
    assert result.certificate == key.certificate
    assert result.root.find(ds("Signature")) is None
    assert c14n(result.root) == c14n(ceb_root())
    assert result.root.findtext(f"{{{CEB}}}Inventory/{{{CEB}}}InventoryList/{{{CEB}}}itemName") == "通用铁剂胶囊"


def test_layout_follows_the_ceb_standard(signed, key):
    root = etree.fromstring(signed)
    signature = root[-1]
    assert signature.tag == ds("Signature") and signature.prefix == "ds"
    assert [child.tag for child in signature] == [ds("SignedInfo"), ds("SignatureValue"), ds("KeyInfo")]
    signed_info = signature[0]
    assert signed_info.find(ds("CanonicalizationMethod")).get("Algorithm") == \
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    assert signed_info.find(ds("SignatureMethod")).get("Algorithm") == \
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    reference = signed_info.find(ds("Reference"))
    assert reference.get("URI") == ""
    assert [t.get("Algorithm") for t in reference.find(ds("Transforms"))] == \
        ["http://www.w3.org/2000/09/xmldsig#enveloped-signature"]
    assert reference.find(ds("DigestMethod")).get("Algorithm") == "http://www.w3.org/2000/09/xmldsig#sha1"
    key_name = signature.findtext(f"{ds('KeyInfo')}/{ds('KeyName')}")
    assert key_name == key.key_name == serial_hex(key.certificate)
    assert re.fullmatch(r"(?:[0-9a-f]{2})+", key_name)     # whole bytes, as cards write the certificate number
    assert int(key_name, 16) == key.certificate.serial_number
    certificate = signature.findtext(f"{ds('KeyInfo')}/{ds('X509Data')}/{ds('X509Certificate')}")
    assert base64.b64decode(certificate) == key.certificate.public_bytes(serialization.Encoding.DER)
    # nothing pretty-printed inside the signature
    for element in signature.iter():
        assert element.tail is None or element is signature
        assert element.text is None or element.text.strip() == element.text
    assert signature.tail is None


def test_output_is_utf8_without_bom_and_keeps_chinese_text(signed):
    assert not signed.startswith(b"\xef\xbb\xbf")
    assert "海南星创互联网医药有限公司".encode() in signed


def test_signing_leaves_the_tree_alone_and_is_deterministic(key):
    root = ceb_root()
    before = c14n(root)
    signer = XmlSigner()
    first = signer.sign(root, key)
    assert c14n(root) == before and root.find(ds("Signature")) is None
    assert signer.sign(root.getroottree(), key) == first   # PKCS#1 v1.5 is deterministic


def test_refuses_to_sign_a_signed_document(signed, key):
    with pytest.raises(SigningError, match="already carries a ds:Signature"):
        XmlSigner().sign(etree.fromstring(signed), key)


def test_refuses_to_sign_an_element_that_is_not_the_root(key):
    with pytest.raises(SigningError, match="document root"):
        XmlSigner().sign(ceb_root()[0], key)


def test_refuses_to_sign_unresolved_entity_references(key):
    root = ceb_root()
    root[0].append(etree.Entity("nbsp"))
    with pytest.raises(SigningError, match="entity reference &nbsp;"):
        XmlSigner().sign(root, key)


@pytest.mark.parametrize("xml", [
    b'<R xmlns="http://www.chinaport.gov.cn/ceb" guid="1"><a>default namespace</a></R>',
    b'<ceb:R xmlns:ceb="http://www.chinaport.gov.cn/ceb" xml:lang="zh-CN" xml:space="preserve"><ceb:a> x </ceb:a></ceb:R>',
    b'<R><!-- comment --><?pi data?><a attr="tab\t&#9;nl&#10;cr&#13;&quot;&lt;&gt;">cr&#13;<![CDATA[<cdata> & ]]></a>\n\n</R>',
    b'<R xmlns:unused="urn:unused"><a xmlns="urn:inner"><b/></a></R>',
])
def test_documents_with_tricky_content_verify_after_a_fresh_parse(key, xml):
    signed = XmlSigner().sign(etree.fromstring(xml), key)
    result = verify(signed, trusted_certificates=[key.certificate])
    assert c14n(result.root) == c14n(etree.fromstring(xml))


def test_one_signer_reused_across_documents_and_namespaces_signs_each_on_its_own(key):
    """The signature template and the canonical SignedInfo halves are kept per identity and namespaces in
    scope: signing other documents in between changes nothing, and every signature verifies."""
    docs = [b'<ceb:R xmlns:ceb="http://www.chinaport.gov.cn/ceb"><ceb:a>1</ceb:a></ceb:R>',
            b'<R xmlns="urn:x"><a>2</a></R>',
            b'<p:R xmlns:p="urn:p" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><p:a>3</p:a></p:R>',  # ds: on the root
            b'<R xmlns:ds="urn:not-dsig"><a>4</a></R>',                                                  # ds: taken
            b'<R xml:lang="zh-CN"><a>5</a></R>']
    signer = XmlSigner()
    first = [signer.sign(etree.fromstring(x), key) for x in docs]
    again = [signer.sign(etree.fromstring(x), key) for x in reversed(docs)][::-1]
    assert again == first
    assert [XmlSigner().sign(etree.fromstring(x), key) for x in docs] == first     # a fresh signer: the same bytes
    for x, data in zip(docs, first, strict=True):
        result = verify(data, trusted_certificates=[key.certificate])
        assert c14n(result.root) == c14n(etree.fromstring(x))
    assert first[2].count(b'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"') == 1   # not declared again


def test_sign_checked_runs_the_check_on_the_signed_tree(key):
    root = ceb_root()
    seen = []

    def check(tree):
        seen.append(DECLARATION + etree.tostring(tree, encoding="UTF-8"))
        return "checked"

    data, result = XmlSigner().sign_checked(root, key, check)
    assert result == "checked" and seen == [data]          # the tree checked is the one the bytes serialise
    assert root.find(ds("Signature")) is None              # and it is taken off again
    assert XmlSigner().sign_checked(root, key, None) == (data, None)


def test_sign_checked_all_gives_what_one_call_each_gives(key):
    """The declarer signs an order's messages together (the signatures back to back): the same bytes and
    check results as one ``sign_checked`` each, in order, and every tree left as it was."""
    other = ceb_root()
    other.find(f"{{{CEB}}}Inventory/{{{CEB}}}InventoryHead/{{{CEB}}}orderNo").text = "ORDER-2"
    roots = [ceb_root(), other, etree.fromstring('<r xmlns:ds="http://www.w3.org/2000/09/xmldsig#" guid="G"/>')]
    before = [etree.tostring(r) for r in roots]
    one_each = [XmlSigner().sign_checked(r, key, lambda t: etree.tostring(t)[-60:]) for r in roots]
    assert XmlSigner().sign_checked_all(roots, key, lambda t: etree.tostring(t)[-60:]) == one_each
    assert [etree.tostring(r) for r in roots] == before
    for data, _ in one_each:
        verify(data, trusted_certificates=[key.certificate])
    with pytest.raises(SigningError, match="already carries"):     # refused, and nothing left behind
        XmlSigner().sign_checked_all([roots[0], etree.fromstring(one_each[1][0])], key, None)
    assert [etree.tostring(r) for r in roots] == before


# --- what the verifier refuses --------------------------------------------------------------------

def test_one_changed_byte_of_text_is_a_digest_mismatch(signed):
    position = signed.index(b"ORDER-20240101-0001") + len(b"ORDER-20240101-000")
    tampered = signed[:position] + b"2" + signed[position + 1:]
    assert "digest mismatch" in reason_of(tampered)


def test_a_changed_signature_value_is_refused(signed):
    start = signed.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>") + 10
    replacement = b"A" if signed[start:start + 1] != b"A" else b"B"
    tampered = signed[:start] + replacement + signed[start + 1:]
    assert reason_of(tampered) == "signature value does not verify with the certificate"


def test_a_moved_signature_is_refused(signed):
    def move_first(root):
        root.insert(0, root[-1])
    assert "not the last child of the root" in reason_of(reserialize(signed, move_first))

    def move_inside(root):
        root[0].append(root[-1])
    assert "not the last child of the root" in reason_of(reserialize(signed, move_inside))


def test_untrusted_certificate_is_refused(signed, key, other_key):
    assert "not a trusted certificate" in reason_of(signed, trusted_certificates=[other_key.certificate])
    assert "not a trusted certificate" in reason_of(signed, trusted_certificates=[])
    verify(signed, trusted_certificates=[other_key.certificate, key.certificate])


def test_swapping_in_another_certificate_is_refused(signed, other_key):
    def swap(root):
        key_info = root[-1].find(ds("KeyInfo"))
        key_info.find(ds("KeyName")).text = other_key.key_name
        key_info.find(f"{ds('X509Data')}/{ds('X509Certificate')}").text = other_key.certificate_b64
    assert reason_of(reserialize(signed, swap)) == "signature value does not verify with the certificate"


@pytest.mark.parametrize("doctype", [
    b'<!DOCTYPE ceb:CEB621Message [<!ENTITY e "entity">]>\n',
    b'<!DOCTYPE ceb:CEB621Message SYSTEM "http://example.com/evil.dtd">\n',
    b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n',
])
def test_documents_with_a_doctype_are_refused(signed, doctype):
    assert "DOCTYPE" in reason_of(DECLARATION + doctype + signed[len(DECLARATION):])


def test_entity_reference_into_the_signed_content_is_refused(signed):
    tampered = signed.replace(DECLARATION, DECLARATION + b'<!DOCTYPE x [<!ENTITY e "ORDER">]>\n', 1)
    tampered = tampered.replace(b"ORDER-20240101-0001", b"&e;-20240101-0001")
    assert "DOCTYPE" in reason_of(tampered)


def test_configured_algorithms_are_enforced(signed):
    assert "algorithms not allowed" in reason_of(signed, allowed=(RSA_SHA256,))


def test_keyname_must_name_the_certificate(signed, key):
    def zero_padded(root):
        root[-1].find(f"{ds('KeyInfo')}/{ds('KeyName')}").text = "0" + key.key_name
    assert verify(reserialize(signed, zero_padded)).key_name == "0" + key.key_name  # UKey style, same serial

    def wrong(root):
        root[-1].find(f"{ds('KeyInfo')}/{ds('KeyName')}").text = "1" + key.key_name
    assert "is not the certificate serial number" in reason_of(reserialize(signed, wrong))


def _add_transform(root):
    transforms = root[-1].find(f"{ds('SignedInfo')}/{ds('Reference')}/{ds('Transforms')}")
    etree.SubElement(transforms, ds("Transform"), Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116")


def _second_signature(root):
    root[0].append(etree.fromstring(etree.tostring(root[-1])))


def _reference_uri(root):
    root[-1].find(f"{ds('SignedInfo')}/{ds('Reference')}").set("URI", "#id")


def _second_reference(root):
    signed_info = root[-1].find(ds("SignedInfo"))
    signed_info.append(etree.fromstring(etree.tostring(signed_info.find(ds("Reference")))))


def _no_keyname(root):
    key_info = root[-1].find(ds("KeyInfo"))
    key_info.remove(key_info.find(ds("KeyName")))


@pytest.mark.parametrize("change, reason", [
    (_add_transform, "transforms must be [enveloped-signature]"),
    (_second_signature, "exactly one is allowed"),
    (_reference_uri, 'URI=""'),
    (_second_reference, "must contain exactly CanonicalizationMethod, SignatureMethod, Reference"),
    (_no_keyname, "must contain exactly KeyName, X509Data"),
])
def test_unexpected_signature_shapes_are_refused(signed, change, reason):
    assert reason in reason_of(reserialize(signed, change))


def test_garbage_is_refused():
    assert "not well-formed" in reason_of(b"<not xml")
    assert "no ds:Signature" in reason_of(b"<R/>")


def test_trailing_whitespace_after_the_signature_is_signed_content(signed):
    # The enveloped-signature transform removes only the Signature element; text after it stays.
    tampered = signed.replace(b"</ds:Signature>", b"</ds:Signature>\n")
    assert "digest mismatch" in reason_of(tampered)


# --- algorithms -----------------------------------------------------------------------------------

def test_rsa_sha256_when_configured(signed_sha256, key):
    root = etree.fromstring(signed_sha256)
    assert root[-1].find(f"{ds('SignedInfo')}/{ds('SignatureMethod')}").get("Algorithm") == \
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    assert root[-1].find(f"{ds('SignedInfo')}/{ds('Reference')}/{ds('DigestMethod')}").get("Algorithm") == \
        "http://www.w3.org/2001/04/xmlenc#sha256"
    assert verify(signed_sha256, trusted_certificates=[key.certificate]).algorithms == RSA_SHA256


def test_algorithms_by_name():
    assert by_name("rsa-sha256") is RSA_SHA256
    assert by_name("RSA-SHA1") is RSA_SHA1
    assert by_name("sm2-sm3") is SM2_SM3
    with pytest.raises(UnsupportedAlgorithm, match="unknown signature algorithm name"):
        by_name("rsa-md5")
    with pytest.raises(SigningError, match="needs sm2"):
        XmlSigner(SM2_SM3, backend=software_backend(RSA_SHA256))   # algorithms and backend must agree


# --- keys -----------------------------------------------------------------------------------------

def test_ensure_dev_key_creates_the_files_once(tmp_path):
    first = ensure_dev_key(tmp_path)
    key_file, cert_file = tmp_path / "keys" / DEV_KEY_FILE, tmp_path / "keys" / DEV_CERT_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert cert_file.exists()
    key_bytes = key_file.read_bytes()
    second = ensure_dev_key(tmp_path)
    assert second.key_name == first.key_name
    assert second.certificate == first.certificate
    assert key_file.read_bytes() == key_bytes
    assert first.certificate.subject.rfc4514_string() == "CN=Gateway development signer"
    assert "PRIVATE" not in repr(first)


def test_load_key_material_with_a_password(tmp_path, key):
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "cert.pem"
    key_file.write_bytes(key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    cert_file.write_bytes(key.certificate.public_bytes(serialization.Encoding.PEM))
    assert load_key_material(key_file, cert_file, password=b"secret").key_name == key.key_name
    with pytest.raises(SigningError, match="wrong password"):
        load_key_material(key_file, cert_file, password=b"wrong")


def test_load_key_material_refuses_a_mismatched_pair(tmp_path, key, other_key):
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "cert.pem"
    key_file.write_bytes(key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert_file.write_bytes(other_key.certificate.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(SigningError, match=r"does not match certificate .*cert\.pem"):
        load_key_material(key_file, cert_file)
    with pytest.raises(SigningError, match="cannot read certificate"):
        load_key_material(key_file, tmp_path / "missing.pem")


# --- a second, independent verifier ---------------------------------------------------------------

def test_signxml_verifies_our_rsa_sha256_signature(signed_sha256, key):
    signed = signed_sha256
    signxml = pytest.importorskip("signxml")
    from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureConfiguration, SignatureMethod

    config = SignatureConfiguration(
        location="./",  # a direct child of the root
        signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
        default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    cert_pem = key.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    result = signxml.XMLVerifier().verify(signed, x509_cert=cert_pem, expect_config=config)
    assert c14n(result.signed_xml) == c14n(ceb_root())

    tampered = signed.replace(b"ORDER-20240101-0001", b"ORDER-20240101-0002")
    with pytest.raises(signxml.exceptions.InvalidSignature):
        signxml.XMLVerifier().verify(tampered, x509_cert=cert_pem, expect_config=config)
