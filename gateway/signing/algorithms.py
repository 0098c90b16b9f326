"""Algorithm sets for CEB enveloped signatures, the XML-DSig names we use, and the error types.

An ``XmlSigner`` is configured once with a ``SignatureAlgorithms`` value; configuration files name
one with ``by_name("rsa-sha256")``. SM2/SM3 (国密) is named here so that configuration and received
documents can refer to it, but signing or verifying with it raises ``UnsupportedAlgorithm`` until
the SM2 backend exists.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XML_NS = "http://www.w3.org/XML/1998/namespace"

C14N_1_0 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ENVELOPED_SIGNATURE = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

RSA_SHA256_URI = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA1_URI = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1_URI = "http://www.w3.org/2000/09/xmldsig#sha1"

# SM2/SM3: the 202205 standard's URIs, and the W3C-style name the E-Port UKey practice writes
# (ceb-messages.md §8.1, §8.2). Not implemented yet.
SM2_SM3_URI = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3"
SM3_URI = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm3"
SM2_SM3_W3C_STYLE_URI = "http://www.w3.org/2000/09/xmldsig#sm2-sm3"


class SigningError(Exception):
    """Base class of every error raised by gateway.signing."""


class UnsupportedAlgorithm(SigningError, NotImplementedError):
    """The algorithm is known by name but has no implementation here (yet), or is unknown."""


@dataclass(frozen=True)
class SignatureAlgorithms:
    """The three algorithm URIs written into ds:SignedInfo."""

    canonicalization: str
    signature_method: str
    digest_method: str

    def digest(self, data: bytes) -> bytes:
        """The DigestMethod applied to ``data``."""
        self.require_implemented()
        return _DIGESTS[self.digest_method](data).digest()

    def signature_hash(self) -> hashes.HashAlgorithm:
        """The hash inside the SignatureMethod (RSA PKCS#1 v1.5 over canonical SignedInfo)."""
        self.require_implemented()
        return _SIGNATURE_HASHES[self.signature_method]()

    @property
    def implemented(self) -> bool:
        return self in _IMPLEMENTED

    def require_implemented(self) -> None:
        if self.implemented:
            return
        if self.signature_method in (SM2_SM3_URI, SM2_SM3_W3C_STYLE_URI) or self.digest_method == SM3_URI:
            raise UnsupportedAlgorithm(
                "SM2/SM3 signatures are not implemented yet (planned as a separate issue); "
                "use rsa-sha256 or rsa-sha1")
        raise UnsupportedAlgorithm(f"unsupported algorithm combination: {self}")


RSA_SHA256 = SignatureAlgorithms(C14N_1_0, RSA_SHA256_URI, SHA256_URI)
RSA_SHA1 = SignatureAlgorithms(C14N_1_0, RSA_SHA1_URI, SHA1_URI)
SM2_SM3 = SignatureAlgorithms(C14N_1_0, SM2_SM3_URI, SM3_URI)

_DIGESTS = {SHA256_URI: hashlib.sha256, SHA1_URI: hashlib.sha1}
_SIGNATURE_HASHES = {RSA_SHA256_URI: hashes.SHA256, RSA_SHA1_URI: hashes.SHA1}
_IMPLEMENTED = frozenset({RSA_SHA256, RSA_SHA1})
_BY_NAME = {"rsa-sha256": RSA_SHA256, "rsa-sha1": RSA_SHA1, "sm2-sm3": SM2_SM3}


def by_name(name: str) -> SignatureAlgorithms:
    """Look an algorithm set up by its configuration name: "rsa-sha256" (default) or "rsa-sha1"."""
    algorithms = _BY_NAME.get(name.strip().lower())
    if algorithms is None:
        raise UnsupportedAlgorithm(
            f"unknown signature algorithm name {name!r}; expected one of: rsa-sha256, rsa-sha1")
    algorithms.require_implemented()
    return algorithms
