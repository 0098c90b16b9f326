"""Enveloped XML digital signatures in the China CEB layout, and a strict verifier.

    signer = XmlSigner(by_name(config.signature_algorithm))      # once
    key = load_key_material(key_path, cert_path, password)       # once
    signed = signer.sign(root, key)                              # per document: bytes to store and send
    verified = verify(signed, trusted_certificates=[key.certificate])
"""
from .algorithms import RSA_SHA1, RSA_SHA256, SignatureAlgorithms, SigningError, UnsupportedAlgorithm, by_name
from .keys import KeyMaterial, ensure_dev_key, load_key_material
from .signer import XmlSigner
from .verifier import SignatureInvalid, VerifiedDocument, verify
from .xmlsec import xmlsec1_verify

__all__ = [
    "SignatureAlgorithms", "RSA_SHA256", "RSA_SHA1", "by_name",
    "KeyMaterial", "load_key_material", "ensure_dev_key",
    "XmlSigner", "verify", "VerifiedDocument",
    "SigningError", "SignatureInvalid", "UnsupportedAlgorithm",
    "xmlsec1_verify",
]
