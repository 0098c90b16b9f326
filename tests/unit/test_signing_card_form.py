"""Our default signature against the form real E-Port cards send (docs/signing.md "Defaults").

The reference is the published CEB621 signed by a real RSA card (RSA-SHA1, KeyName ``01691fe9``;
../shared/reference/ceb-202205/signed/). Its canonical SignedInfo, DigestValue aside, must be the
bytes ours is, when we sign the same document with default settings. The SM2 default is the form
ceb-messages.md §8.2 describes for SM2 cards (W3C-style #sm2-sm3, SHA-1 digest).
"""
from __future__ import annotations

import copy
import re

import pytest
from lxml import etree

from gateway import signing
from gateway.config import Settings
from gateway.signing import DEFAULT_RSA, DEFAULT_SM2, RSA_SHA1, SM2_SM3_W3C_SHA1_DIGEST, XmlSigner, by_name
from gateway.signing.keys import serial_bytes_hex
from gateway.signing.signer import c14n_in_context
from tests.helpers import REFERENCE

DS = "http://www.w3.org/2000/09/xmldsig#"
CARD_SIGNED = REFERENCE / "signed" / "CEB621Message_signed_rsa_sha1.xml"
BLANKS = etree.XMLParser(remove_blank_text=True)


def _ds(name: str) -> str:
    return f"{{{DS}}}{name}"


def signed_info_without_digest(root: etree._Element) -> bytes:
    signed_info = root.find(f"{_ds('Signature')}/{_ds('SignedInfo')}")
    signed_info.find(f"{_ds('Reference')}/{_ds('DigestValue')}").text = "DIGEST"
    return c14n_in_context(signed_info)


def card_signed_info(context: etree._Element | None = None) -> bytes:
    """The card's canonical SignedInfo with the DigestValue set aside, in the namespace context of its
    own document or, given ``context`` (a signed document of ours), in that document's context (our
    builders also declare xmlns:xsi on the root, as the official samples do)."""
    card = etree.fromstring(CARD_SIGNED.read_bytes(), parser=BLANKS)
    if context is None:
        return signed_info_without_digest(card)
    context = copy.deepcopy(context)
    signature = context.find(_ds("Signature"))
    signature.replace(signature.find(_ds("SignedInfo")),
                      copy.deepcopy(card.find(f"{_ds('Signature')}/{_ds('SignedInfo')}")))
    return signed_info_without_digest(context)


def test_defaults_are_the_real_card_forms():
    assert DEFAULT_RSA == RSA_SHA1 == by_name(signing.DEFAULT_RSA_NAME)
    assert DEFAULT_SM2 == SM2_SM3_W3C_SHA1_DIGEST == by_name(signing.DEFAULT_SM2_NAME)
    assert DEFAULT_SM2.signature_method == "http://www.w3.org/2000/09/xmldsig#sm2-sm3"
    assert DEFAULT_SM2.digest_method == "http://www.w3.org/2000/09/xmldsig#sha1"
    assert XmlSigner().algorithms == RSA_SHA1
    settings = Settings()
    assert (settings.signature, settings.sm2_signature) == ("rsa-sha1", "sm2-sm3-w3c-sha1")


@pytest.mark.parametrize("serial, expected", [
    (0x01691FE9, "01691fe9"), (0x01691F7F, "01691f7f"), (0x03000000000CDE6F, "03000000000cde6f"),
    (0x7F, "7f"), (0x80, "0080"), (0x1234, "1234"), (1, "01")])
def test_key_name_is_the_certificate_number_as_cards_give_it(serial, expected):
    assert serial_bytes_hex(serial) == expected


@pytest.mark.skipif(not CARD_SIGNED.is_file(), reason=f"reference sample missing: {CARD_SIGNED}")
def test_our_canonical_signed_info_is_the_card_form_byte_for_byte(signing_key):
    card = etree.fromstring(CARD_SIGNED.read_bytes(), parser=BLANKS)
    expected = card_signed_info()

    document = etree.fromstring(CARD_SIGNED.read_bytes(), parser=BLANKS)
    document.remove(document.find(_ds("Signature")))
    ours = etree.fromstring(XmlSigner().sign(document, signing_key))
    assert signed_info_without_digest(ours) == expected
    assert b'Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"' in expected
    assert card.findtext(f"{_ds('Signature')}/{_ds('KeyInfo')}/{_ds('KeyName')}").strip() == "01691fe9"
    key_name = ours.findtext(f"{_ds('Signature')}/{_ds('KeyInfo')}/{_ds('KeyName')}")
    assert re.fullmatch(r"(?:[0-9a-f]{2})+", key_name) and int(key_name, 16) == signing_key.certificate.serial_number
