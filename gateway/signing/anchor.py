"""Verifying with a trust anchor (issue 9, item 9). A signature that verifies proves only that the
document was not changed since someone signed it; who signed it counts only against certificates
the verifier trusts. Without any (``trusted`` empty) the answer is "signature valid, signer NOT
trusted", which fails unless the caller explicitly allows untrusted signers."""
from __future__ import annotations

from dataclasses import dataclass

from .verifier import SignatureInvalid, VerifiedDocument, verify

NOT_TRUSTED = "signature valid, signer NOT trusted"


class SignerNotTrusted(SignatureInvalid):
    """The signature verifies, but nothing says its signer is who it claims to be."""


@dataclass(frozen=True)
class Anchored:
    verified: VerifiedDocument
    trusted: bool            # False only when untrusted signers were explicitly allowed

    @property
    def verdict(self) -> str:
        return "signature valid, signer trusted" if self.trusted else NOT_TRUSTED


def untrusted_signer(serial: str, subject: str) -> str:
    return (f"{NOT_TRUSTED} (certificate serial {serial}, {subject}): no trust anchor given "
            "(--trust CERT.pem, or --allow-untrusted)")


def verify_anchored(data: bytes, trusted: list | None, *, allow_untrusted: bool = False) -> Anchored:
    """Verify ``data``; with ``trusted`` certificates the signer must be one of them (else
    SignatureInvalid). Without, raise SignerNotTrusted unless ``allow_untrusted``."""
    if trusted:
        return Anchored(verify(data, trusted_certificates=list(trusted)), True)
    verified = verify(data)
    if not allow_untrusted:
        raise SignerNotTrusted(untrusted_signer(verified.key_name, verified.certificate.subject.rfc4514_string()))
    return Anchored(verified, False)
