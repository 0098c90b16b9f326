"""Strict verification of CEB enveloped signatures, on the exact bytes that were stored or received.

Only the layout the CEB standard uses is accepted (one ds:Signature, last child of the root, one
Reference URI="" with the enveloped-signature transform, KeyName + X509Certificate), and only the
algorithm sets passed in ``allowed``. What comes back is the element that was actually signed
(the parsed document with the Signature removed), never a re-read of the input.

Without ``trusted_certificates`` the check proves only that the document was signed by the
certificate it carries; pass the certificates you trust to establish who signed it.
"""
from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from .algorithms import (C14N_1_0, DS_NS, ENVELOPED_SIGNATURE, RSA_SHA1, RSA_SHA256, SignatureAlgorithms,
                         SigningError)
from .keys import serial_hex
from .signer import c14n_in_context


class SignatureInvalid(SigningError):
    """The document is not an acceptable, intact CEB signature. ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedDocument:
    root: etree._Element            # what was signed: the parsed root, ds:Signature removed
    certificate: x509.Certificate   # the certificate that verified the signature
    key_name: str                   # ds:KeyName as written in the document
    algorithms: SignatureAlgorithms


def _ds(name: str) -> str:
    return f"{{{DS_NS}}}{name}"


# Keeps entity references unexpanded and never fetches anything. (Do not add collect_ids=False:
# with lxml 6 / libxml2 2.14 it makes libxml2 read a local external DTD named by a DOCTYPE.)
_HARDENED_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, dtd_validation=False,
    attribute_defaults=False, remove_blank_text=False, remove_comments=False, remove_pis=False)
_DER = serialization.Encoding.DER


def verify(data: bytes, *, trusted_certificates: list[x509.Certificate] | None = None,
           allowed: tuple[SignatureAlgorithms, ...] = (RSA_SHA256, RSA_SHA1)) -> VerifiedDocument:
    """Verify the signed document ``data`` (bytes exactly as stored/sent); raise SignatureInvalid."""
    tree = parse_hardened(data)
    root = tree.getroot()
    signature = _the_signature(tree)
    signed_info, signature_value, key_info = _children(signature, ("SignedInfo", "SignatureValue", "KeyInfo"))
    algorithms, digest_value = _read_signed_info(signed_info, allowed)
    algorithms.require_implemented()
    certificate, key_name = _read_key_info(key_info, trusted_certificates)

    canonical_signed_info = c14n_in_context(signed_info)   # while still inside the document
    _remove_keeping_tail(signature)                         # the enveloped-signature transform
    canonical_document = etree.tostring(tree, method="c14n", with_comments=False)
    if not hmac.compare_digest(algorithms.digest(canonical_document), digest_value):
        raise SignatureInvalid("digest mismatch: the signed content was changed")

    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SignatureInvalid(f"the certificate holds a {type(public_key).__name__}, "
                               f"not an RSA key as {algorithms.signature_method} needs")
    try:
        public_key.verify(_base64(signature_value, "SignatureValue"), canonical_signed_info,
                          padding.PKCS1v15(), algorithms.signature_hash())
    except InvalidSignature:
        raise SignatureInvalid("signature value does not verify with the certificate") from None
    return VerifiedDocument(root=root, certificate=certificate, key_name=key_name, algorithms=algorithms)


def parse_hardened(data: bytes) -> etree._ElementTree:
    """Parse untrusted bytes: no entities expanded, no network, no DOCTYPE; SignatureInvalid otherwise."""
    if not isinstance(data, bytes):
        raise SignatureInvalid(f"expected the signed bytes, got {type(data).__name__}")
    try:
        tree = etree.fromstring(data, parser=_HARDENED_PARSER).getroottree()
    except etree.XMLSyntaxError as e:
        if b"<!DOCTYPE" in data:
            raise SignatureInvalid(f"document type declarations (DOCTYPE, entities) are not accepted ({e})") from None
        raise SignatureInvalid(f"not well-formed XML: {e}") from None
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise SignatureInvalid("document type declarations (DOCTYPE, entities) are not accepted")
    return tree


def _the_signature(tree: etree._ElementTree) -> etree._Element:
    root = tree.getroot()
    signatures = list(tree.iter(_ds("Signature")))
    if not signatures:
        raise SignatureInvalid("the document has no ds:Signature")
    if len(signatures) > 1:
        raise SignatureInvalid(f"the document has {len(signatures)} ds:Signature elements; exactly one is allowed")
    signature = signatures[0]
    if signature is root:
        raise SignatureInvalid("the signature is the root element; only enveloped signatures are accepted")
    if signature.getparent() is not root or signature.getnext() is not None or (signature.tail or "").strip():
        raise SignatureInvalid("signature is not the last child of the root")
    return signature


def _children(parent: etree._Element, names: tuple[str, ...]) -> list[etree._Element]:
    children = [child for child in parent if isinstance(child.tag, str)]
    if [child.tag for child in children] != [_ds(name) for name in names]:
        found = ", ".join(etree.QName(child).localname for child in children) or "nothing"
        raise SignatureInvalid(f"ds:{etree.QName(parent).localname} must contain exactly "
                               f"{', '.join(names)} in this order; found {found}")
    if (parent.text or "").strip() or any((child.tail or "").strip() for child in children):
        raise SignatureInvalid(f"unexpected text inside ds:{etree.QName(parent).localname}")
    return children


def _all_children(parent: etree._Element, name: str) -> list[etree._Element]:
    """The children of ``parent``, all of which must be ds:``name``."""
    return _children(parent, (name,) * len(_children_of(parent)))


def _algorithm(element: etree._Element) -> str:
    if _children_of(element):
        raise SignatureInvalid(f"ds:{etree.QName(element).localname} must not have parameters")
    uri = element.get("Algorithm")
    if not uri:
        raise SignatureInvalid(f"ds:{etree.QName(element).localname} has no Algorithm")
    return uri


def _children_of(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _read_signed_info(signed_info, allowed) -> tuple[SignatureAlgorithms, bytes]:
    c14n_method, signature_method, reference = _children(
        signed_info, ("CanonicalizationMethod", "SignatureMethod", "Reference"))
    if reference.get("URI") != "":
        raise SignatureInvalid('the Reference must have URI="" (the whole document)')
    transforms, digest_method, digest_value = _children(reference, ("Transforms", "DigestMethod", "DigestValue"))
    transform_uris = [_algorithm(t) for t in _all_children(transforms, "Transform")]
    if transform_uris not in ([ENVELOPED_SIGNATURE], [ENVELOPED_SIGNATURE, C14N_1_0]):
        raise SignatureInvalid(f"the Reference transforms must be [enveloped-signature] (optionally followed "
                               f"by C14N 1.0); found {transform_uris}")
    algorithms = SignatureAlgorithms(_algorithm(c14n_method), _algorithm(signature_method),
                                     _algorithm(digest_method))
    if algorithms not in allowed:
        raise SignatureInvalid(
            f"algorithms not allowed: canonicalization {algorithms.canonicalization}, signature "
            f"{algorithms.signature_method}, digest {algorithms.digest_method}")
    return algorithms, _base64(digest_value, "DigestValue")


def _read_key_info(key_info, trusted_certificates) -> tuple[x509.Certificate, str]:
    key_name_element, x509_data = _children(key_info, ("KeyName", "X509Data"))
    (certificate_element,) = _children(x509_data, ("X509Certificate",))
    try:
        certificate = x509.load_der_x509_certificate(_base64(certificate_element, "X509Certificate"))
    except ValueError:
        raise SignatureInvalid("ds:X509Certificate is not a valid DER X.509 certificate") from None
    key_name = (key_name_element.text or "").strip()
    if not _names_serial(key_name, certificate.serial_number):
        raise SignatureInvalid(f"KeyName {key_name!r} is not the certificate serial number "
                               f"{serial_hex(certificate)!r}")
    if trusted_certificates is not None:
        der = certificate.public_bytes(_DER)
        if not any(der == trusted.public_bytes(_DER) for trusted in trusted_certificates):
            raise SignatureInvalid(f"the signing certificate (serial {serial_hex(certificate)}, subject "
                                   f"{certificate.subject.rfc4514_string()}) is not a trusted certificate")
    return certificate, key_name


def _names_serial(key_name: str, serial: int) -> bool:
    """KeyName is the serial in hex; E-Port UKeys write it byte-aligned ("01691fe9"), we write "1691fe9"."""
    return (0 < len(key_name) <= 64 and all(c in "0123456789abcdefABCDEF" for c in key_name)
            and int(key_name, 16) == serial)


def _base64(element: etree._Element, what: str) -> bytes:
    if _children_of(element):
        raise SignatureInvalid(f"ds:{what} must hold only base64 text")
    try:
        value = base64.b64decode("".join((element.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid(f"ds:{what} is not valid base64") from None
    if not value:
        raise SignatureInvalid(f"ds:{what} is empty")
    return value


def _remove_keeping_tail(element: etree._Element) -> None:
    """Remove ``element`` but keep its tail text, as the enveloped-signature transform does."""
    parent, tail = element.getparent(), element.tail
    if tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)
