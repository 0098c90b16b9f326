"""Enveloped XML digital signatures in the China CEB layout, and a strict verifier.

    signer = XmlSigner(by_name(config.signature_algorithm))      # once (algorithms + backend fixed)
    key = load_key_material(key_path, cert_path, password)       # once
    signed = signer.sign(root, key)                              # per document: bytes to store and send
    verified = verify(signed, trusted_certificates=[key.certificate])

Backends (gateway.signing.backends): software RSA and SM2 (here), PKCS#11 tokens
(gateway.signing.pkcs11), the E-Port style WebSocket signing bridge (gateway.signing.bridge).
Tenant keys: gateway.signing.keystore. See docs/signing.md.
"""
from .algorithms import (
                         DEFAULT_RSA,
                         DEFAULT_RSA_NAME,
                         DEFAULT_SM2,
                         DEFAULT_SM2_NAME,
                         NAMES,
                         RSA_SHA1,
                         RSA_SHA256,
                         SM2_SM3,
                         SM2_SM3_SHA1_DIGEST,
                         SM2_SM3_W3C,
                         SM2_SM3_W3C_SHA1_DIGEST,
                         SM2_VARIANTS,
                         SignatureAlgorithms,
                         SigningError,
                         Sm2Options,
                         UnsupportedAlgorithm,
                         by_name,
)
from .backends import SignatureBackend, SoftwareRsaBackend, SoftwareSm2Backend, software_backend
from .keys import KeyMaterial, SignerIdentity, ensure_dev_key, load_key_material, load_pkcs12
from .signer import XmlSigner
from .verifier import Expectation, SignatureInvalid, VerifiedDocument, verify, verify_parsed, verify_with
from .xmlsec import xmlsec1_verify

__all__ = [
    "SignatureAlgorithms", "RSA_SHA256", "RSA_SHA1", "SM2_SM3", "SM2_SM3_SHA1_DIGEST", "SM2_SM3_W3C",
    "SM2_SM3_W3C_SHA1_DIGEST", "SM2_VARIANTS", "DEFAULT_RSA", "DEFAULT_SM2", "DEFAULT_RSA_NAME",
    "DEFAULT_SM2_NAME", "NAMES", "by_name", "Sm2Options",
    "SignatureBackend", "SoftwareRsaBackend", "SoftwareSm2Backend", "software_backend",
    "KeyMaterial", "SignerIdentity", "load_key_material", "load_pkcs12", "ensure_dev_key",
    "XmlSigner", "verify", "verify_with", "verify_parsed", "Expectation", "VerifiedDocument",
    "SigningError", "SignatureInvalid", "UnsupportedAlgorithm",
    "xmlsec1_verify",
]
