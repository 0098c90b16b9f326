"""The port between the XML part of signing and whatever holds the private key.

``XmlSigner`` builds the digest, SignedInfo and the ds:Signature layout; a ``SignatureBackend``
only turns the bytes to be signed (the canonical SignedInfo) into a signature value, and says which
certificate belongs to a key. Backends are built once with their algorithm; the key is chosen per
call by a ``key_ref`` whose type each backend defines:

=========================  =====================================  ==============================
backend                    key_ref                                module
=========================  =====================================  ==============================
``SoftwareRsaBackend``     ``KeyMaterial`` (RSA)                  here
``SoftwareSm2Backend``     ``KeyMaterial`` (SM2)                  here
``Pkcs11Backend``          token key label (str)                  ``gateway.signing.pkcs11``
``BridgeBackend``          None / card label (str)                ``gateway.signing.bridge``
=========================  =====================================  ==============================
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import padding, rsa

from . import sm2
from .algorithms import DEFAULT_SM2_OPTIONS, SignatureAlgorithms, SigningError, Sm2Options
from .keys import KeyMaterial, SignerIdentity


@runtime_checkable
class SignatureBackend(Protocol):
    key_type: str                       # "rsa" | "sm2": the SignatureMethods it can serve

    def sign(self, signed_info_c14n: bytes, key_ref: Any) -> bytes:
        """The signature value (raw bytes, base64-encoded by the caller) over the given bytes."""

    def certificate(self, key_ref: Any) -> SignerIdentity:
        """KeyName and certificate for ds:KeyInfo of the key ``key_ref``."""


class SoftwareRsaBackend:
    """RSA PKCS#1 v1.5 with the hash of the SignatureMethod (SHA-256 by default, SHA-1 on request)."""

    key_type = "rsa"

    def __init__(self, algorithms: SignatureAlgorithms):
        self._hash = algorithms.signature_hash()
        self._padding = padding.PKCS1v15()

    def sign(self, signed_info_c14n: bytes, key_ref: KeyMaterial) -> bytes:
        key = _key_material(key_ref)
        if not isinstance(key.private_key, rsa.RSAPrivateKey):
            raise SigningError(f"this signer uses RSA, but the key {key.key_name} is a {key.key_type.upper()} key")
        return key.private_key.sign(signed_info_c14n, self._padding, self._hash)

    def certificate(self, key_ref: KeyMaterial) -> SignerIdentity:
        return _key_material(key_ref).identity


class SoftwareSm2Backend:
    """SM2 with SM3 (Z with the configured user ID), value raw r||s or DER (``Sm2Options``)."""

    key_type = "sm2"

    def __init__(self, options: Sm2Options = DEFAULT_SM2_OPTIONS):
        self.options = options

    def sign(self, signed_info_c14n: bytes, key_ref: KeyMaterial) -> bytes:
        key = _key_material(key_ref)
        if not isinstance(key.private_key, sm2.Sm2PrivateKey):
            raise SigningError(f"this signer uses SM2, but the key {key.key_name} is a {key.key_type.upper()} key")
        raw = key.private_key.sign(signed_info_c14n, self.options.user_id)
        return raw if self.options.encoding == "raw" else sm2.to_der(raw)

    def certificate(self, key_ref: KeyMaterial) -> SignerIdentity:
        return _key_material(key_ref).identity


def software_backend(algorithms: SignatureAlgorithms,
                     sm2_options: Sm2Options = DEFAULT_SM2_OPTIONS) -> SignatureBackend:
    """The software backend that serves ``algorithms``."""
    algorithms.require_implemented()
    if algorithms.key_type == "sm2":
        return SoftwareSm2Backend(sm2_options)
    return SoftwareRsaBackend(algorithms)


def _key_material(key_ref) -> KeyMaterial:
    if not isinstance(key_ref, KeyMaterial):
        raise SigningError(f"a software backend signs with a KeyMaterial, not {type(key_ref).__name__}")
    return key_ref
