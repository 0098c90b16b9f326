"""Strict verification of CEB enveloped signatures, on the exact bytes that were stored or received.

Only the layout the CEB standard uses is accepted (one ds:Signature, a child of the root — the last
one unless the expectation says otherwise —, one Reference URI="" with the enveloped-signature
transform, KeyName + X509Certificate), and only the algorithm sets the caller allows. What comes
back is what was actually signed: the canonical bytes that were digested, parsed again (so a
comment or anything else outside the signed content cannot change what the caller reads), never a
re-read of the input.

Without trusted certificates the check proves only that the document was signed by the
certificate it carries; pass the certificates you trust to establish who signed it. For what comes
back from the government (receipts, government-signed messages) build an ``Expectation`` once and
call ``verify_with`` (or ``Expectation.verify``).
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hmac
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as _CryptographyUnsupported
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from . import der, sm2
from .algorithms import (
    C14N_1_0,
    DIGEST_VALUE,
    DS_NS,
    ENVELOPED_SIGNATURE,
    RSA_SHA1,
    RSA_SHA256,
    SIGNED_INFO,
    SIGNED_INPUTS,
    SM2_SM3,
    SM2_SM3_W3C_SHA1_DIGEST,
    SignatureAlgorithms,
    SigningError,
    Sm2Options,
)
from .hardened import HARDENED_PARSER, SignatureInvalid, parse_hardened, refuse_doctype
from .keys import serial_hex
from .signer import c14n_in_context

DEFAULT_ALLOWED = (RSA_SHA1, RSA_SHA256, SM2_SM3_W3C_SHA1_DIGEST, SM2_SM3)
PLACEMENTS = ("last-child", "child-of-root")


@dataclass(frozen=True)
class VerifiedDocument:
    root: etree._Element            # what was signed: the canonical signed bytes parsed again
    certificate: x509.Certificate   # the certificate that verified the signature
    key_name: str                   # ds:KeyName as written in the document
    algorithms: SignatureAlgorithms
    signed_bytes: bytes = b""       # exactly the bytes that were digested (C14N, Signature removed)


@dataclass(frozen=True)
class Expectation:
    """What a signed document must look like to be accepted; built once, used for every document.

    ``allowed``: the algorithm sets accepted. ``trusted_certificates``: the signers accepted (None:
    any certificate the document carries — proves integrity only). ``placement``: "last-child"
    (CEB import layout, our own output) or "child-of-root" (export layout: ds:Signature may be
    followed by ceb:ExtendMessage). ``sm2``: encoding and user ID of SM2 values.
    ``signed_input``: "signed-info" or "digest-value". ``at``: if given, the certificate must be
    valid at that time.
    """

    allowed: tuple[SignatureAlgorithms, ...] = DEFAULT_ALLOWED
    trusted_certificates: tuple[x509.Certificate, ...] | None = None
    placement: str = "last-child"
    sm2: Sm2Options = field(default_factory=Sm2Options)
    signed_input: str = SIGNED_INFO
    at: dt.datetime | None = None
    # the DER bytes of trusted_certificates, computed once (empty when any certificate is accepted)
    _trusted_der: frozenset[bytes] = field(default_factory=frozenset, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise SigningError(f"placement must be one of {PLACEMENTS}, not {self.placement!r}")
        if self.signed_input not in SIGNED_INPUTS:
            raise SigningError(f"signed_input must be one of {SIGNED_INPUTS}, not {self.signed_input!r}")
        if not self.allowed:
            raise SigningError("an expectation must allow at least one algorithm set")
        for algorithms in self.allowed:
            algorithms.require_implemented()
        if self.trusted_certificates is not None:
            object.__setattr__(self, "trusted_certificates", tuple(self.trusted_certificates))
            object.__setattr__(self, "_trusted_der", frozenset(c.public_bytes(_DER) for c in self.trusted_certificates))

    def verify(self, data: bytes) -> VerifiedDocument:
        return verify_with(data, self)


def _ds(name: str) -> str:
    return f"{{{DS_NS}}}{name}"


_DER = serialization.Encoding.DER


def verify(data: bytes, *, trusted_certificates: list[x509.Certificate] | None = None,
           allowed: tuple[SignatureAlgorithms, ...] = DEFAULT_ALLOWED,
           expectation: Expectation | None = None) -> VerifiedDocument:
    """Verify the signed document ``data`` (bytes exactly as stored/sent); raise SignatureInvalid.

    Shorthand for ``verify_with(data, Expectation(allowed, trusted_certificates))``; pass a
    prepared ``expectation`` instead on hot paths and for anything beyond algorithms and signers.
    """
    if expectation is None:
        expectation = Expectation(allowed=tuple(allowed), trusted_certificates=(
            None if trusted_certificates is None else tuple(trusted_certificates)))
    elif trusted_certificates is not None or allowed is not DEFAULT_ALLOWED:
        raise SigningError("pass either an expectation or allowed/trusted_certificates, not both")
    return verify_with(data, expectation)


def verify_with(data: bytes, expectation: Expectation) -> VerifiedDocument:
    """Verify ``data`` against ``expectation``; return only what was signed. Raise SignatureInvalid."""
    return verify_parsed(parse_hardened(data), expectation)


def verify_parsed(tree: etree._ElementTree, expectation: Expectation) -> VerifiedDocument:
    """``verify_with`` on a document the caller has already parsed from the received bytes with
    ``parse_hardened`` (or a parser as strict: no entities, no network, no DTD, DOCTYPE refused), so
    that the same bytes are not parsed twice. The tree is consumed: its ds:Signature is removed (the
    enveloped-signature transform). What comes back is, as always, the signed bytes parsed again.
    A tree that carries a document type declaration is refused here too, whatever parsed it."""
    refuse_doctype(tree)
    signature = _the_signature(tree, expectation.placement)
    signed_info, signature_value, key_info = _children(signature, ("SignedInfo", "SignatureValue", "KeyInfo"))
    algorithms, digest_value = _read_signed_info(signed_info, expectation.allowed)
    carried, key_name = _read_key_info(key_info, expectation)
    certificate = carried.certificate

    if expectation.signed_input == DIGEST_VALUE:
        digest_text = signed_info.find(f"{_ds('Reference')}/{_ds('DigestValue')}").text or ""
        signed_input = "".join(digest_text.split()).encode("ascii")
    else:
        signed_input = c14n_in_context(signed_info)    # while still inside the document
    _remove_keeping_tail(signature)                     # the enveloped-signature transform
    canonical_document = etree.tostring(tree, method="c14n", with_comments=False)
    if not hmac.compare_digest(algorithms.digest(canonical_document), digest_value):
        raise SignatureInvalid("digest mismatch: the signed content was changed")

    value = _base64(signature_value, "SignatureValue")
    if algorithms.key_type == "sm2":
        _verify_sm2(certificate, value, signed_input, algorithms, expectation.sm2)
    else:
        _verify_rsa(carried.rsa_key, value, signed_input, algorithms)
    # Only the signed content goes back: the digested bytes, parsed again (comments, which C14N
    # leaves out of the digest, cannot split or hide text the caller reads).
    signed_root = etree.fromstring(canonical_document, parser=HARDENED_PARSER)
    return VerifiedDocument(root=signed_root, certificate=certificate, key_name=key_name, algorithms=algorithms,
                            signed_bytes=canonical_document)


def _verify_rsa(public_key: rsa.RSAPublicKey | None, value: bytes, signed_input: bytes,
                algorithms: SignatureAlgorithms) -> None:
    if public_key is None:
        raise SignatureInvalid(f"the certificate does not hold an RSA key as {algorithms.signature_method} needs")
    try:
        public_key.verify(value, signed_input, padding.PKCS1v15(), algorithms.signature_hash())
    except InvalidSignature:
        raise SignatureInvalid("signature value does not verify with the certificate") from None


# Certificates carried in documents are decoded and parsed once per ds:X509Certificate text (the same
# signer signs thousands of documents; the same text is the same DER); the checks on them (KeyName,
# trust, validity) and the signature itself still run for every document.
_CACHED_CERTIFICATE_TEXT = 16 * 1024   # longer (odd) certificates are decoded every time, never kept


class _Carried(NamedTuple):
    certificate: x509.Certificate
    der: bytes                                 # as cryptography writes it: compared with the trusted ones
    rsa_key: rsa.RSAPublicKey | None           # None when the certificate holds another kind of key


def _read_certificate(element: etree._Element) -> _Carried:
    text = _base64_text(element, "X509Certificate")
    if len(text) > _CACHED_CERTIFICATE_TEXT:
        return _load_certificate(text)
    return _cached_certificate(text)


@functools.lru_cache(maxsize=256)
def _cached_certificate(text: str) -> _Carried:
    return _load_certificate(text)     # a SignatureInvalid is raised, never cached


def _load_certificate(text: str) -> _Carried:
    try:
        certificate = x509.load_der_x509_certificate(_decode_base64(text, "X509Certificate"))
    except ValueError:
        raise SignatureInvalid("ds:X509Certificate is not a valid DER X.509 certificate") from None
    try:
        public_key = certificate.public_key()
    except _CryptographyUnsupported:
        public_key = None
    return _Carried(certificate, certificate.public_bytes(_DER),
                    public_key if isinstance(public_key, rsa.RSAPublicKey) else None)


@functools.lru_cache(maxsize=256)
def _sm2_public_key(spki: bytes) -> sm2.Sm2PublicKey:
    """Parsed (and engine-loaded) once per signer, not once per document."""
    return sm2.Sm2PublicKey.from_spki_der(spki)


def _verify_sm2(certificate, value: bytes, signed_input: bytes, algorithms: SignatureAlgorithms,
                options: Sm2Options) -> None:
    try:
        public_key = _sm2_public_key(sm2.certificate_spki(certificate))
    except SigningError:
        raise SignatureInvalid(f"the certificate does not hold an SM2 key as {algorithms.signature_method} needs") from None
    if options.encoding == "raw":
        if len(value) != 64:
            raise SignatureInvalid(f"the SM2 SignatureValue has {len(value)} bytes; expected raw r||s (64 bytes)")
        raw = value
    else:
        try:
            raw = sm2.from_der(value)
        except der.DerError as e:
            raise SignatureInvalid(f"the SM2 SignatureValue is not a DER signature: {e}") from None
    if not public_key.verify(raw, signed_input, options.user_id):
        raise SignatureInvalid("signature value does not verify with the certificate")


def _the_signature(tree: etree._ElementTree, placement: str = "last-child") -> etree._Element:
    root = tree.getroot()
    signatures = list(tree.iter(_ds("Signature")))
    if not signatures:
        raise SignatureInvalid("the document has no ds:Signature")
    if len(signatures) > 1:
        raise SignatureInvalid(f"the document has {len(signatures)} ds:Signature elements; exactly one is allowed")
    signature = signatures[0]
    if signature is root:
        raise SignatureInvalid("the signature is the root element; only enveloped signatures are accepted")
    if signature.getparent() is not root:
        where = "the last child" if placement == "last-child" else "a child"
        raise SignatureInvalid(f"signature is not {where} of the root: it sits inside "
                               f"{etree.QName(signature.getparent()).localname} (only enveloped signatures over "
                               "the whole document are accepted)")
    if placement == "last-child" and (signature.getnext() is not None or (signature.tail or "").strip()):
        raise SignatureInvalid("signature is not the last child of the root")
    return signature


@functools.lru_cache(maxsize=64)
def _ds_tags(names: tuple[str, ...]) -> list[str]:
    return [_ds(name) for name in names]


def _children(parent: etree._Element, names: tuple[str, ...]) -> list[etree._Element]:
    children = _children_of(parent)
    if [child.tag for child in children] != _ds_tags(names):
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
    """The element children (no comments, processing instructions or entity references)."""
    return list(element.iterchildren(etree.Element))


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


def _read_key_info(key_info, expectation: Expectation) -> tuple[_Carried, str]:
    key_name_element, x509_data = _children(key_info, ("KeyName", "X509Data"))
    (certificate_element,) = _children(x509_data, ("X509Certificate",))
    carried = _read_certificate(certificate_element)
    certificate = carried.certificate
    key_name = (key_name_element.text or "").strip()
    if not _names_serial(key_name, certificate.serial_number):
        raise SignatureInvalid(f"KeyName {key_name!r} is not the certificate serial number "
                               f"{serial_hex(certificate)!r}")
    if expectation.trusted_certificates is not None:
        if carried.der not in expectation._trusted_der:
            raise SignatureInvalid(f"the signing certificate (serial {serial_hex(certificate)}, subject "
                                   f"{certificate.subject.rfc4514_string()}) is not a trusted certificate")
    if expectation.at is not None:
        if not certificate.not_valid_before_utc <= expectation.at <= certificate.not_valid_after_utc:
            raise SignatureInvalid(f"the signing certificate (serial {serial_hex(certificate)}) is not valid at "
                                   f"{expectation.at.isoformat()} (valid {certificate.not_valid_before_utc.isoformat()}"
                                   f" to {certificate.not_valid_after_utc.isoformat()})")
    return carried, key_name


def _names_serial(key_name: str, serial: int) -> bool:
    """KeyName is the serial in hex; E-Port cards and we write it byte-aligned ("01691fe9"), other
    signers may drop the leading zero ("1691fe9"): both name the same serial."""
    return 0 < len(key_name) <= 64 and _HEX.fullmatch(key_name) is not None and int(key_name, 16) == serial


_HEX = re.compile(r"[0-9a-fA-F]+")


def _base64(element: etree._Element, what: str) -> bytes:
    return _decode_base64(_base64_text(element, what), what)


def _base64_text(element: etree._Element, what: str) -> str:
    if _children_of(element):
        raise SignatureInvalid(f"ds:{what} must hold only base64 text")
    return "".join((element.text or "").split())


def _decode_base64(text: str, what: str) -> bytes:
    try:
        value = base64.b64decode(text, validate=True)
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
