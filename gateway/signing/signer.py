"""Enveloped XML-DSig signatures in the CEB layout (ceb-messages.md §8.1, §8.4).

Output: ``<?xml version="1.0" encoding="UTF-8"?>`` + newline + the root element with
``ds:Signature`` appended as its last child: SignedInfo (C14N 1.0, SignatureMethod, one
Reference URI="" with the enveloped-signature transform), SignatureValue, KeyInfo (KeyName =
certificate number: the serial's bytes in hex, X509Data/X509Certificate = base64 DER). Nothing inside the Signature
is indented, so the bytes returned are exactly what a verifier digests after parsing them.

The XML part (digest, SignedInfo, layout) lives here; the raw signature is made by a
``SignatureBackend`` (gateway.signing.backends): software RSA or SM2, a PKCS#11 token, or a remote
signing bridge. Algorithms and backend are fixed when the signer is built; the key per call.
"""
from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from lxml import etree

from .algorithms import (
    DEFAULT_RSA,
    DIGEST_VALUE,
    DS_NS,
    ENVELOPED_SIGNATURE,
    SIGNED_INFO,
    SIGNED_INPUTS,
    XML_NS,
    SignatureAlgorithms,
    SigningError,
    Sm2Options,
    UnsupportedAlgorithm,
)
from .backends import SignatureBackend, software_backend
from .keys import SignerIdentity

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
T = TypeVar("T")

_SIGNATURE = f"{{{DS_NS}}}Signature"
_SIGNED_INFO = f"{{{DS_NS}}}SignedInfo"
_C14N_METHOD = f"{{{DS_NS}}}CanonicalizationMethod"
_SIGNATURE_METHOD = f"{{{DS_NS}}}SignatureMethod"
_REFERENCE = f"{{{DS_NS}}}Reference"
_TRANSFORMS = f"{{{DS_NS}}}Transforms"
_TRANSFORM = f"{{{DS_NS}}}Transform"
_DIGEST_METHOD = f"{{{DS_NS}}}DigestMethod"
_DIGEST_VALUE = f"{{{DS_NS}}}DigestValue"
_SIGNATURE_VALUE = f"{{{DS_NS}}}SignatureValue"
_KEY_INFO = f"{{{DS_NS}}}KeyInfo"
_KEY_NAME = f"{{{DS_NS}}}KeyName"
_X509_DATA = f"{{{DS_NS}}}X509Data"
_X509_CERTIFICATE = f"{{{DS_NS}}}X509Certificate"
_DS_NSMAP = {"ds": DS_NS}
_XML_ATTR_PREFIX = f"{{{XML_NS}}}"
_DIGEST_MARK = "gateway-digest-value-mark"


class XmlSigner:
    """Signs CEB documents with one fixed algorithm set; the key is given per call.

    Usage: ``XmlSigner().sign(root, key_material) -> bytes`` (RSA-SHA1, the real-card form);
    ``XmlSigner(SM2_SM3, sm2=Sm2Options(encoding="der"))``; ``XmlSigner(RSA_SHA256, backend=Pkcs11Backend(...))
    .sign(root, "key label")``. The Signature is appended to the caller's tree only for the
    duration of the call, so do not share a tree between threads while it is being signed.

    ``signed_input``: "signed-info" (XML-DSig, default) or "digest-value" (the SignatureValue
    signs the DigestValue text, as one server crypto device integration does, §8.3).
    """

    def __init__(self, algorithms: SignatureAlgorithms = DEFAULT_RSA, backend: SignatureBackend | None = None, *,
                 sm2: Sm2Options | None = None, signed_input: str = SIGNED_INFO):
        algorithms.require_implemented()
        if signed_input not in SIGNED_INPUTS:
            raise UnsupportedAlgorithm(f"signed_input must be one of {SIGNED_INPUTS}, not {signed_input!r}")
        if backend is None:
            backend = software_backend(algorithms, sm2 or Sm2Options())
        elif sm2 is not None:
            raise SigningError("Sm2Options configure the software SM2 backend; configure the given backend itself")
        if getattr(backend, "key_type", None) != algorithms.key_type:
            raise SigningError(f"the backend {type(backend).__name__} signs {getattr(backend, 'key_type', '?')} "
                               f"keys; {algorithms.signature_method} needs {algorithms.key_type}")
        self.algorithms = algorithms
        self.backend = backend
        self.signed_input = signed_input
        self._digest = algorithms.digest_function()     # looked up once, not per document
        # (KeyName, certificate) -> a detached ds:Signature with an empty DigestValue and SignatureValue,
        # built once per signing identity and copied per document (a copy is a fifth of building it)
        self._templates: dict[tuple[str, str], etree._Element] = {}
        # the canonical SignedInfo around its DigestValue text, by the root's namespaces in scope: C14N
        # of a SignedInfo copied from a template differs only there (the digest is plain base64)
        self._signed_info_parts: dict[tuple[str, str, frozenset], tuple[bytes, bytes]] = {}

    @property
    def key_type(self) -> str:
        return self.algorithms.key_type

    def __repr__(self) -> str:
        return f"XmlSigner({self.algorithms.signature_method!r}, {type(self.backend).__name__})"

    def sign(self, document: etree._Element | etree._ElementTree, key: Any) -> bytes:
        """Return the signed document as UTF-8 bytes, ready to store and send as they are.
        ``key`` is the backend's key reference (a KeyMaterial for the software backends)."""
        return self.sign_checked(document, key, None)[0]

    def sign_checked(self, document: etree._Element | etree._ElementTree, key: Any,
                     check: Callable[[etree._Element], T] | None) -> tuple[bytes, T | None]:
        """``sign``, and ``check(root)`` run on the signed tree (the ds:Signature in place: the tree the
        returned bytes are the serialisation of) before the signature is taken off again: the
        declarer validates what it sends without parsing the bytes back. Returns (bytes, check's result)."""
        return self.sign_checked_all([document], key, check)[0]

    def sign_checked_all(self, documents: Sequence[etree._Element | etree._ElementTree], key: Any,
                         check: Callable[[etree._Element], T] | None) -> list[tuple[bytes, T | None]]:
        """``sign_checked`` of each of ``documents`` (distinct documents, all signed with ``key``), in order;
        the same bytes and results as one call each. The XML of every document is prepared first (digest,
        SignedInfo), then the backend makes the signatures one after the other, then each document is
        serialised and checked: the RSA or SM2 work back to back is not slowed by the XML work's turns
        in the processor's caches (and the XML work not by its). Every tree is left as it was."""
        roots = [_root_of(document) for document in documents]
        identity = self.backend.certificate(key)
        appended: list[tuple[etree._Element, etree._Element]] = []
        try:
            to_sign = []
            for root in roots:
                signature = self._attach(root, identity)
                appended.append((root, signature))
                to_sign.append(self._to_sign(root, signature, identity))
            values = [self.backend.sign(data, key) for data in to_sign]
            out: list[tuple[bytes, T | None]] = []
            for (root, signature), value in zip(appended, values, strict=True):
                signature[1].text = base64.b64encode(value).decode("ascii")
                signed = XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False,
                                                          with_tail=False)
                out.append((signed, None if check is None else check(root)))
            return out
        finally:
            for root, signature in appended:
                root.remove(signature)  # leave the caller's trees as they were

    def _attach(self, root: etree._Element, identity: SignerIdentity) -> etree._Element:
        """Append the ds:Signature of ``root`` (DigestValue set, SignatureValue empty) and return it."""
        found = next(root.iter(_SIGNATURE, etree.Entity), None)
        if found is not None:
            if found.tag is etree.Entity:  # would be written as &name; and not parse without a DTD
                raise SigningError(f"the document contains an entity reference {found.text}; resolve it first")
            raise SigningError("the document already carries a ds:Signature; refusing to sign it again")
        digest = self._digest(etree.tostring(root, method="c14n", with_comments=False))
        if root.nsmap.get("ds") == DS_NS:     # the root declares ds: itself: built in place, not redeclared
            return self._append_signature(root, digest, identity)
        signature = self._template(identity).__copy__()      # lxml: a copy of the whole subtree
        signature[0][2][2].text = base64.b64encode(digest).decode("ascii")    # SignedInfo/Reference/DigestValue
        root.append(signature)
        return signature

    def _to_sign(self, root: etree._Element, signature: etree._Element, identity: SignerIdentity) -> bytes:
        """What the backend signs for ``signature``, appended to ``root`` by ``_attach``."""
        if self.signed_input == DIGEST_VALUE:
            return signature[0][2][2].text.encode("ascii")     # SignedInfo/Reference/DigestValue
        # Canonicalised in document context: inclusive C14N renders the namespaces in scope
        # (xmlns:ceb, xmlns:xsi, a default namespace ...) on SignedInfo, as verifiers will.
        nsmap = root.nsmap
        if nsmap.get("ds") != DS_NS and not any(name.startswith(_XML_ATTR_PREFIX) for name in root.attrib):
            return self._signed_info_c14n(signature, identity, nsmap)     # a copy of the template
        return c14n_in_context(signature[0])

    def _signed_info_c14n(self, signature: etree._Element, key: SignerIdentity, nsmap: dict) -> bytes:
        """``c14n_in_context`` of the SignedInfo of a templated ``signature`` (its root has no xml:*
        attributes): computed once per identity and namespaces in scope with a marker for the digest,
        then the digest put between the two halves."""
        digest_value = signature[0][2][2]
        cache_key = (key.key_name, key.certificate_b64, frozenset(nsmap.items()))
        parts = self._signed_info_parts.get(cache_key)
        if parts is None:
            digest_b64 = digest_value.text
            digest_value.text = _DIGEST_MARK
            try:
                before, mark, after = c14n_in_context(signature[0]).partition(_DIGEST_MARK.encode("ascii"))
            finally:
                digest_value.text = digest_b64
            if not mark or _DIGEST_MARK.encode("ascii") in after:
                return c14n_in_context(signature[0])
            if len(self._signed_info_parts) >= 256:
                self._signed_info_parts.clear()
            self._signed_info_parts[cache_key] = parts = (before, after)
        return parts[0] + digest_value.text.encode("ascii") + parts[1]

    def _template(self, key: SignerIdentity) -> etree._Element:
        """The ds:Signature of ``key`` as ``_append_signature`` builds it, detached, DigestValue empty."""
        cache_key = (key.key_name, key.certificate_b64)
        template = self._templates.get(cache_key)
        if template is None:
            template = self._append_signature(None, b"", key)
            template[0][2][2].text = None
            if len(self._templates) >= 64:     # many tenant keys: keep the set bounded
                self._templates.clear()
            self._templates[cache_key] = template
        return template

    def _append_signature(self, root: etree._Element | None, digest: bytes, key: SignerIdentity) -> etree._Element:
        """The ds:Signature (SignatureValue empty) appended to ``root``, or detached when ``root`` is None."""
        sub = etree.SubElement
        algorithms = self.algorithms
        if root is None:
            signature = etree.Element(_SIGNATURE, nsmap=_DS_NSMAP)
        else:
            signature = sub(root, _SIGNATURE, nsmap=_DS_NSMAP)
        signed_info = sub(signature, _SIGNED_INFO)
        sub(signed_info, _C14N_METHOD, Algorithm=algorithms.canonicalization)
        sub(signed_info, _SIGNATURE_METHOD, Algorithm=algorithms.signature_method)
        reference = sub(signed_info, _REFERENCE, URI="")
        sub(sub(reference, _TRANSFORMS), _TRANSFORM, Algorithm=ENVELOPED_SIGNATURE)
        sub(reference, _DIGEST_METHOD, Algorithm=algorithms.digest_method)
        sub(reference, _DIGEST_VALUE).text = base64.b64encode(digest).decode("ascii")
        sub(signature, _SIGNATURE_VALUE)
        key_info = sub(signature, _KEY_INFO)
        sub(key_info, _KEY_NAME).text = key.key_name
        sub(sub(key_info, _X509_DATA), _X509_CERTIFICATE).text = key.certificate_b64
        return signature


def _root_of(document) -> etree._Element:
    if isinstance(document, etree._ElementTree):
        document = document.getroot()
    if not isinstance(document, etree._Element) or not isinstance(document.tag, str):
        raise SigningError(f"expected an lxml element or tree, got {type(document).__name__}")
    if document.getparent() is not None:
        raise SigningError("pass the document root to sign: the signature is enveloped in the whole document")
    return document


def c14n_in_context(element: etree._Element) -> bytes:
    """Inclusive C14N 1.0 (no comments) of ``element`` as a document subset, i.e. in context.

    lxml renders the namespace declarations in scope on the apex element, but not the xml:*
    attributes (xml:lang, xml:space, xml:base) that C14N 1.0 §2.4 also carries over from the
    ancestors; those are set on the apex for the duration of the call.
    """
    inherited: dict[str, str] = {}
    for ancestor in element.iterancestors():
        for name, value in ancestor.attrib.items():
            if name.startswith(_XML_ATTR_PREFIX) and name not in inherited and name not in element.attrib:
                inherited[name] = value
    if not inherited:
        return etree.tostring(element, method="c14n", with_comments=False)
    element.attrib.update(inherited)
    try:
        return etree.tostring(element, method="c14n", with_comments=False)
    finally:
        for name in inherited:
            del element.attrib[name]
