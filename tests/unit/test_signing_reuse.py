"""What the verifier reuses between documents (a carried certificate is parsed once per DER) and
verifying a tree already parsed: neither may weaken a check (trust, validity, the signature itself,
only the signed content back)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from lxml import etree

from gateway.signing import (
    RSA_SHA256,
    Expectation,
    SignatureInvalid,
    XmlSigner,
    ensure_dev_key,
    verify_parsed,
    verify_with,
)
from gateway.signing.verifier import parse_hardened

CEB = "http://www.chinaport.gov.cn/ceb"
DS = "http://www.w3.org/2000/09/xmldsig#"


def message(status: str) -> bytes:
    return (f'<ceb:CEB622Message xmlns:ceb="{CEB}" guid="G-1" version="1.0"><ceb:InventoryReturn>'
            f"<ceb:returnStatus>{status}</ceb:returnStatus></ceb:InventoryReturn></ceb:CEB622Message>").encode()


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    return ensure_dev_key(tmp_path_factory.mktemp("signer"), common_name="Reuse signer")


@pytest.fixture(scope="module")
def other(tmp_path_factory):
    return ensure_dev_key(tmp_path_factory.mktemp("other"), common_name="Other signer")


def sign(status: str, key) -> bytes:
    return XmlSigner(RSA_SHA256).sign(etree.fromstring(message(status)), key)


def test_one_certificate_object_per_der_across_documents(signer):
    first = verify_with(sign("800", signer), Expectation(trusted_certificates=(signer.certificate,)))
    second = verify_with(sign("899", signer), Expectation())
    assert first.certificate is second.certificate
    assert first.root.findtext(f"{{{CEB}}}InventoryReturn/{{{CEB}}}returnStatus") == "800"
    assert second.root.findtext(f"{{{CEB}}}InventoryReturn/{{{CEB}}}returnStatus") == "899"


def test_a_certificate_seen_before_is_still_checked_for_trust_and_validity(signer, other):
    signed = sign("800", signer)
    verify_with(signed, Expectation())      # parsed and kept
    with pytest.raises(SignatureInvalid, match="not a trusted certificate"):
        verify_with(signed, Expectation(trusted_certificates=(other.certificate,)))
    too_late = signer.certificate.not_valid_after_utc + timedelta(days=1)
    with pytest.raises(SignatureInvalid, match="is not valid at"):
        verify_with(signed, Expectation(trusted_certificates=(signer.certificate,), at=too_late))


def test_a_certificate_seen_before_does_not_spare_the_signature_check(signer):
    signed = sign("800", signer)
    verify_with(signed, Expectation())
    changed = signed.replace(b"<ds:DigestValue>", b"<ds:DigestValue>AAAA", 1)
    with pytest.raises(SignatureInvalid):
        verify_with(changed, Expectation())
    forged_digest = signed.replace(b">800<", b">899<")
    with pytest.raises(SignatureInvalid, match="digest mismatch"):
        verify_with(forged_digest, Expectation())


def test_verify_parsed_is_verify_with_on_a_tree_and_consumes_its_signature(signer):
    signed = sign("800", signer).replace(b">800<", b">8<!---->00<")   # comments are not signed
    expectation = Expectation(trusted_certificates=(signer.certificate,))
    tree = parse_hardened(signed)
    result = verify_parsed(tree, expectation)
    assert result.signed_bytes == verify_with(signed, expectation).signed_bytes
    assert result.root.findtext(f"{{{CEB}}}InventoryReturn/{{{CEB}}}returnStatus") == "800"   # the signed text
    assert tree.getroot().find(f"{{{DS}}}Signature") is None
    with pytest.raises(SignatureInvalid, match="digest mismatch"):
        verify_parsed(parse_hardened(signed.replace(b">00<", b">99<")), expectation)
