"""Verifying what comes back (receipts, government-signed messages) against an explicit
expectation: only the signed content is returned; wrapping, XXE and entity expansion are refused
with a reason."""
from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from gateway.signing import (
    RSA_SHA1,
    RSA_SHA256,
    SM2_SM3,
    Expectation,
    SignatureInvalid,
    Sm2Options,
    XmlSigner,
    ensure_dev_key,
    verify,
    verify_with,
)

CEB = "http://www.chinaport.gov.cn/ceb"
DS = "http://www.w3.org/2000/09/xmldsig#"
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

RECEIPT = """\
<ceb:CEB622Message xmlns:ceb="http://www.chinaport.gov.cn/ceb" guid="A7C6E4C2-6D2B-4B6A-9F4E-2B8F54D2C0A1" version="1.0">
  <ceb:InventoryReturn>
    <ceb:guid>A7C6E4C2-6D2B-4B6A-9F4E-2B8F54D2C0A2</ceb:guid>
    <ceb:copNo>GW0123456789ABCDEF01</ceb:copNo>
    <ceb:returnStatus>800</ceb:returnStatus>
    <ceb:returnInfo>放行</ceb:returnInfo>
  </ceb:InventoryReturn>
</ceb:CEB622Message>
""".encode()


@pytest.fixture(scope="module")
def government(tmp_path_factory):
    return ensure_dev_key(tmp_path_factory.mktemp("gov"), common_name="Customs receipt signer", key_type="sm2")


@pytest.fixture(scope="module")
def attacker(tmp_path_factory):
    return ensure_dev_key(tmp_path_factory.mktemp("attacker"), common_name="Attacker")


@pytest.fixture(scope="module")
def receipt_expectation(government):
    """What a government receipt must be: SM2 (202205) or RSA-SHA1, signed by the customs certificate."""
    return Expectation(allowed=(SM2_SM3, RSA_SHA1), trusted_certificates=(government.certificate,),
                       placement="child-of-root")


@pytest.fixture(scope="module")
def signed_receipt(government):
    return XmlSigner(SM2_SM3).sign(etree.fromstring(RECEIPT), government)


def reason(data: bytes, expectation: Expectation) -> str:
    with pytest.raises(SignatureInvalid) as caught:
        verify_with(data, expectation)
    return caught.value.reason


def reserialize(root) -> bytes:
    return DECLARATION + etree.tostring(root, encoding="UTF-8")


def c(name: str) -> str:
    return f"{{{CEB}}}{name}"


def d(name: str) -> str:
    return f"{{{DS}}}{name}"


def test_a_government_receipt_verifies_and_only_the_signed_content_comes_back(signed_receipt, receipt_expectation):
    result = receipt_expectation.verify(signed_receipt)
    assert result.root.findtext(f"{c('InventoryReturn')}/{c('returnStatus')}") == "800"
    assert result.root.find(d("Signature")) is None
    assert result.signed_bytes == etree.tostring(etree.fromstring(RECEIPT), method="c14n")


def test_an_untrusted_signer_is_refused(attacker, receipt_expectation):
    forged = XmlSigner(RSA_SHA1).sign(etree.fromstring(RECEIPT.replace(b"800", b"899")), attacker)
    assert "not a trusted certificate" in reason(forged, receipt_expectation)


def test_algorithms_outside_the_expectation_are_refused(attacker):
    signed = XmlSigner(RSA_SHA256).sign(etree.fromstring(RECEIPT), attacker)
    expectation = Expectation(allowed=(SM2_SM3, RSA_SHA1), trusted_certificates=(attacker.certificate,))
    assert "algorithms not allowed" in reason(signed, expectation)


def test_certificate_validity_is_checked_when_asked(signed_receipt, government):
    too_late = government.certificate.not_valid_after_utc + timedelta(days=1)
    expectation = Expectation(trusted_certificates=(government.certificate,), at=too_late)
    assert "is not valid at" in reason(signed_receipt, expectation)
    Expectation(trusted_certificates=(government.certificate,), at=datetime.now(UTC)).verify(signed_receipt)


# ---- signature wrapping ---------------------------------------------------------------------------

def test_wrapping_the_signed_document_inside_a_forged_one(signed_receipt, receipt_expectation):
    original = etree.fromstring(signed_receipt)
    forged = etree.fromstring(RECEIPT.replace(b"<ceb:returnStatus>800", b"<ceb:returnStatus>899"))
    wrapper = etree.SubElement(forged, c("Wrapper"))
    wrapper.append(original)                     # the genuine, signed document hidden inside
    assert "signature is not a child of the root: it sits inside CEB622Message" in \
        reason(reserialize(forged), receipt_expectation)


def test_moving_the_signature_and_adding_forged_content_after_it(signed_receipt, receipt_expectation):
    root = etree.fromstring(signed_receipt)
    extra = etree.SubElement(root, c("InventoryReturn"))
    etree.SubElement(extra, c("returnStatus")).text = "800"
    assert "not the last child" in reason(reserialize(root), Expectation(trusted_certificates=None))
    assert "digest mismatch" in reason(reserialize(root), receipt_expectation)   # export layout: still caught


def test_signed_content_parked_in_a_ds_object(signed_receipt, receipt_expectation):
    root = etree.fromstring(signed_receipt)
    signature = root.find(d("Signature"))
    business = root.find(c("InventoryReturn"))
    obj = etree.SubElement(signature, d("Object"))
    obj.append(business)                                      # genuine content moved out of sight
    forged = etree.Element(c("InventoryReturn"))
    etree.SubElement(forged, c("returnStatus")).text = "899"
    root.insert(0, forged)
    assert "must contain exactly SignedInfo, SignatureValue, KeyInfo" in reason(reserialize(root), receipt_expectation)


def test_a_reference_to_an_id_instead_of_the_whole_document(signed_receipt, receipt_expectation):
    root = etree.fromstring(signed_receipt)
    root.find(f"{d('Signature')}/{d('SignedInfo')}/{d('Reference')}").set("URI", "#A7C6E4C2")
    assert 'URI=""' in reason(reserialize(root), receipt_expectation)


def test_two_signatures_and_extra_transforms(signed_receipt, receipt_expectation, government):
    root = etree.fromstring(signed_receipt)
    business = root.find(c("InventoryReturn"))
    business.append(etree.fromstring(etree.tostring(root.find(d("Signature")))))
    assert "exactly one is allowed" in reason(reserialize(root), receipt_expectation)
    root = etree.fromstring(signed_receipt)
    transforms = root.find(f"{d('Signature')}/{d('SignedInfo')}/{d('Reference')}/{d('Transforms')}")
    etree.SubElement(transforms, d("Transform"), Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116")
    assert "transforms must be" in reason(reserialize(root), receipt_expectation)


def test_comments_cannot_hide_or_split_signed_text(signed_receipt, receipt_expectation):
    """C14N without comments ignores comments; what comes back is the signed text, not the
    comment-split text a naive reader of the received bytes would see."""
    tampered = signed_receipt.replace(b"<ceb:returnStatus>800<", b"<ceb:returnStatus>8<!---->00<")
    assert tampered != signed_receipt
    naive = etree.fromstring(tampered).findtext(f"{c('InventoryReturn')}/{c('returnStatus')}")
    assert naive == "8"
    result = receipt_expectation.verify(tampered)
    assert result.root.findtext(f"{c('InventoryReturn')}/{c('returnStatus')}") == "800"


def test_a_namespace_impostor_is_not_a_signature(signed_receipt, receipt_expectation):
    fake = signed_receipt.replace(b'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"',
                                  b'xmlns:ds="http://www.w3.org/2000/09/xmldsig-fake#"')
    assert "no ds:Signature" in reason(fake, receipt_expectation)


# ---- XXE and entity expansion -------------------------------------------------------------------

@pytest.mark.parametrize("payload", [
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>',
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><r>&d;</r>',
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]><r/>',
    b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>',
], ids=["external-entity", "billion-laughs", "parameter-entity", "external-dtd"])
def test_doctypes_and_entities_are_refused_with_a_reason(payload, receipt_expectation):
    assert "document type declarations" in reason(payload, receipt_expectation)


def test_a_doctype_in_front_of_a_genuine_signed_receipt_is_refused(signed_receipt, receipt_expectation):
    body = signed_receipt[len(DECLARATION):]
    with_dtd = DECLARATION + b'<!DOCTYPE ceb:CEB622Message [<!ENTITY x "800">]>\n' + body
    assert "document type declarations" in reason(with_dtd, receipt_expectation)


def test_undeclared_entity_reference_is_not_well_formed(receipt_expectation):
    assert "not well-formed" in reason(b"<r>&xxe;</r>", receipt_expectation)


def test_sm2_value_encoding_is_part_of_the_expectation(signed_receipt, government):
    assert "not a DER signature" in reason(signed_receipt, Expectation(sm2=Sm2Options(encoding="der")))
    signed_der = XmlSigner(SM2_SM3, sm2=Sm2Options(encoding="der")).sign(etree.fromstring(RECEIPT), government)
    value = base64.b64decode(etree.fromstring(signed_der).findtext(f"{d('Signature')}/{d('SignatureValue')}"))
    assert value[0] == 0x30
    assert verify(signed_der, expectation=Expectation(sm2=Sm2Options(encoding="der"))).key_name


def test_verify_parsed_refuses_a_doctype_whatever_parser_read_it(signed_receipt, receipt_expectation):
    """``verify_parsed`` takes a tree parsed by its caller: a lenient parser's tree that kept a DOCTYPE
    (entities left unresolved) is refused, not trusted."""
    from gateway.signing import verify_parsed
    body = signed_receipt[len(DECLARATION):]
    with_dtd = DECLARATION + b'<!DOCTYPE ceb:CEB622Message [<!ENTITY x "800">]>\n' + body
    lenient = etree.XMLParser(resolve_entities=False, no_network=True)
    with pytest.raises(SignatureInvalid, match="document type declarations"):
        verify_parsed(etree.fromstring(with_dtd, lenient).getroottree(), receipt_expectation)
    assert verify_parsed(etree.fromstring(signed_receipt, lenient).getroottree(), receipt_expectation).key_name
