"""Enveloped XML-DSig signatures in the CEB layout (ceb-messages.md §8.1, §8.4).

Output: ``<?xml version="1.0" encoding="UTF-8"?>`` + newline + the root element with
``ds:Signature`` appended as its last child: SignedInfo (C14N 1.0, SignatureMethod, one
Reference URI="" with the enveloped-signature transform), SignatureValue, KeyInfo (KeyName =
certificate serial in hex, X509Data/X509Certificate = base64 DER). Nothing inside the Signature
is indented, so the bytes returned are exactly what a verifier digests after parsing them.
"""
from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from .algorithms import (DS_NS, ENVELOPED_SIGNATURE, RSA_SHA256, XML_NS, SignatureAlgorithms,
                         SigningError)
from .keys import KeyMaterial

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

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


class XmlSigner:
    """Signs CEB documents with one fixed algorithm set; the key is given per call.

    Usage: ``XmlSigner(RSA_SHA256).sign(root, key_material) -> bytes``. The Signature is appended
    to the caller's tree only for the duration of the call, so do not share a tree between
    threads while it is being signed.
    """

    def __init__(self, algorithms: SignatureAlgorithms = RSA_SHA256):
        algorithms.require_implemented()
        self.algorithms = algorithms
        self._hash = algorithms.signature_hash()
        self._padding = padding.PKCS1v15()

    def __repr__(self) -> str:
        return f"XmlSigner({self.algorithms.signature_method!r})"

    def sign(self, document: etree._Element | etree._ElementTree, key: KeyMaterial) -> bytes:
        """Return the signed document as UTF-8 bytes, ready to store and send as they are."""
        root = _root_of(document)
        if not isinstance(key.private_key, rsa.RSAPrivateKey):
            raise SigningError(f"{self.algorithms.signature_method} needs an RSA key, got "
                               f"{type(key.private_key).__name__}")
        found = next(root.iter(_SIGNATURE, etree.Entity), None)
        if found is not None:
            if found.tag is etree.Entity:  # would be written as &name; and not parse without a DTD
                raise SigningError(f"the document contains an entity reference {found.text}; resolve it first")
            raise SigningError("the document already carries a ds:Signature; refusing to sign it again")
        digest = self.algorithms.digest(etree.tostring(root, method="c14n", with_comments=False))
        signature = self._append_signature(root, digest, key)
        try:
            # Canonicalised in document context: inclusive C14N renders the namespaces in scope
            # (xmlns:ceb, xmlns:xsi, a default namespace ...) on SignedInfo, as verifiers will.
            signed_info = c14n_in_context(signature[0])
            value = key.private_key.sign(signed_info, self._padding, self._hash)
            signature[1].text = base64.b64encode(value).decode("ascii")
            return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False,
                                                    with_tail=False)
        finally:
            root.remove(signature)  # leave the caller's tree as it was

    def _append_signature(self, root: etree._Element, digest: bytes, key: KeyMaterial) -> etree._Element:
        sub = etree.SubElement
        algorithms = self.algorithms
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
