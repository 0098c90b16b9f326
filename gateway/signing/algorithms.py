"""Algorithm sets for CEB enveloped signatures, the XML-DSig names we use, and the error types.

An ``XmlSigner`` is configured once with a ``SignatureAlgorithms`` value; configuration files name
one with ``by_name("rsa-sha256")``. SM2/SM3 (国密) comes in the variants ceb-messages.md §8 describes:
the 202205 chinaport URIs or the W3C-style URI the E-Port UKey practice writes, each with an SM3 or
a SHA-1 DigestMethod (``SM2_VARIANTS``). How the SM2 signature value is encoded (raw r||s or DER)
and which SM2 user ID is used are ``Sm2Options``, not URIs.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes

from .sm3 import sm3

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XML_NS = "http://www.w3.org/XML/1998/namespace"

C14N_1_0 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ENVELOPED_SIGNATURE = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

RSA_SHA256_URI = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA1_URI = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1_URI = "http://www.w3.org/2000/09/xmldsig#sha1"

# SM2/SM3: the 202205 standard's URIs, and the W3C-style name the E-Port UKey practice writes
# (ceb-messages.md §8.1, §8.2).
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
        return _DIGESTS[self.digest_method](data)

    def digest_function(self) -> Callable[[bytes], bytes]:
        """The DigestMethod as a function, looked up once (a signer keeps it)."""
        self.require_implemented()
        return _DIGESTS[self.digest_method]

    def signature_hash(self) -> hashes.HashAlgorithm:
        """The hash inside an RSA SignatureMethod (PKCS#1 v1.5 over canonical SignedInfo)."""
        self.require_implemented()
        if self.key_type != "rsa":
            raise UnsupportedAlgorithm(f"{self.signature_method} is not an RSA signature method")
        return _SIGNATURE_HASHES[self.signature_method]()

    @property
    def key_type(self) -> str:
        """"rsa" or "sm2": the kind of key the SignatureMethod needs."""
        return "sm2" if self.signature_method in (SM2_SM3_URI, SM2_SM3_W3C_STYLE_URI) else "rsa"

    @property
    def name(self) -> str:
        """The configuration name (see ``by_name``)."""
        return _NAMES.get(self, "custom")

    @property
    def implemented(self) -> bool:
        return self in _IMPLEMENTED

    def require_implemented(self) -> None:
        if self.implemented:
            return
        raise UnsupportedAlgorithm(f"unsupported algorithm combination: {self}")


DEFAULT_SM2_USER_ID = b"1234567812345678"
SM2_ENCODINGS = ("raw", "der")


@dataclass(frozen=True)
class Sm2Options:
    """How SM2 signature values are made and read (not visible in the URIs).

    ``encoding``: "raw" r||s, 64 bytes (what the E-Port UKey produces and accepts; default) or
    "der" (X.509 ECDSA-Sig-Value). ``user_id``: the SM2 distinguishing identifier hashed into Z
    (GM/T 0009 default 1234567812345678).
    """

    encoding: str = "raw"
    user_id: bytes = DEFAULT_SM2_USER_ID

    def __post_init__(self) -> None:
        if self.encoding not in SM2_ENCODINGS:
            raise UnsupportedAlgorithm(f"SM2 signature encoding must be raw or der, not {self.encoding!r}")
        if not isinstance(self.user_id, bytes) or not self.user_id:
            raise UnsupportedAlgorithm("the SM2 user ID must be non-empty bytes")


DEFAULT_SM2_OPTIONS = Sm2Options()   # raw r||s, the GM/T 0009 default user ID (frozen: safe as a default)


# What the SignatureValue signs: the canonical SignedInfo (XML-DSig, default), or the text of the
# DigestValue (the non-standard server crypto device variant, ceb-messages.md §8.3).
SIGNED_INFO = "signed-info"
DIGEST_VALUE = "digest-value"
SIGNED_INPUTS = (SIGNED_INFO, DIGEST_VALUE)


RSA_SHA256 = SignatureAlgorithms(C14N_1_0, RSA_SHA256_URI, SHA256_URI)
RSA_SHA1 = SignatureAlgorithms(C14N_1_0, RSA_SHA1_URI, SHA1_URI)
# SM2 variants (ceb-messages.md §8): the 202205 standard's chinaport URIs (SM3 or SHA-1 digest), and the
# W3C-style name real E-Port cards write (SHA-1 digest: the default, docs/signing.md "Defaults").
SM2_SM3 = SignatureAlgorithms(C14N_1_0, SM2_SM3_URI, SM3_URI)
SM2_SM3_SHA1_DIGEST = SignatureAlgorithms(C14N_1_0, SM2_SM3_URI, SHA1_URI)
SM2_SM3_W3C = SignatureAlgorithms(C14N_1_0, SM2_SM3_W3C_STYLE_URI, SM3_URI)
SM2_SM3_W3C_SHA1_DIGEST = SignatureAlgorithms(C14N_1_0, SM2_SM3_W3C_STYLE_URI, SHA1_URI)  # E-Port UKey practice
SM2_VARIANTS = (SM2_SM3, SM2_SM3_SHA1_DIGEST, SM2_SM3_W3C, SM2_SM3_W3C_SHA1_DIGEST)

# The defaults are the forms real E-Port cards send (docs/signing.md "Defaults and their evidence"):
# RSA cards sign rsa-sha1 / sha1 (W3C URIs, also the 202205 table's RSA pair); SM2 cards sign with the
# W3C-style #sm2-sm3 and a SHA-1 digest. The chinaport 2022 URIs and SHA-256 stay available by name.
DEFAULT_RSA = RSA_SHA1
DEFAULT_SM2 = SM2_SM3_W3C_SHA1_DIGEST
DEFAULT_RSA_NAME = "rsa-sha1"
DEFAULT_SM2_NAME = "sm2-sm3-w3c-sha1"


_DIGESTS = {SHA256_URI: lambda d: hashlib.sha256(d).digest(), SHA1_URI: lambda d: hashlib.sha1(d).digest(),
            SM3_URI: sm3}
_SIGNATURE_HASHES = {RSA_SHA256_URI: hashes.SHA256, RSA_SHA1_URI: hashes.SHA1}
_IMPLEMENTED = frozenset({RSA_SHA256, RSA_SHA1, *SM2_VARIANTS})
_BY_NAME = {
    "rsa-sha1": RSA_SHA1,                          # W3C, 2018/202205 standard, real RSA cards (default)
    "rsa-sha256": RSA_SHA256,
    "sm2-sm3": SM2_SM3,                            # 202205: chinaport sm2-sm3 + chinaport sm3
    "sm2-sm3-sha1": SM2_SM3_SHA1_DIGEST,           # chinaport sm2-sm3 + W3C sha1 digest
    "sm2-sm3-w3c": SM2_SM3_W3C,                    # W3C-style #sm2-sm3 + chinaport sm3
    "sm2-sm3-w3c-sha1": SM2_SM3_W3C_SHA1_DIGEST,   # W3C-style #sm2-sm3 + sha1: real SM2 cards (default)
}
_NAMES = {algorithms: name for name, algorithms in _BY_NAME.items()}
NAMES = tuple(_BY_NAME)


def by_name(name: str) -> SignatureAlgorithms:
    """Look an algorithm set up by its configuration name (``NAMES``): "rsa-sha1" (default for RSA keys),
    "rsa-sha256", "sm2-sm3" (202205 chinaport URIs), "sm2-sm3-sha1", "sm2-sm3-w3c", "sm2-sm3-w3c-sha1"
    (default for SM2 keys: the real-card form)."""
    algorithms = _BY_NAME.get(name.strip().lower())
    if algorithms is None:
        raise UnsupportedAlgorithm(
            f"unknown signature algorithm name {name!r}; expected one of: {', '.join(NAMES)}")
    algorithms.require_implemented()
    return algorithms
