"""Signed statements of the chain head ("at time T the chain had N records ending in hash H") and
detached signatures of evidence manifests. RSA PKCS#1 v1.5 with SHA-256 over canonical JSON, by the
gateway's signing key; the certificate travels with the signature (PEM). No I/O here.

A checkpoint kept outside the database (a copy of the file under ``instance/audit/checkpoints``,
or inside an evidence bundle) is what makes deleting the newest records, or rewriting the whole
chain, detectable: the signed head must still be a record of the chain, at the same position.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.signing.algorithms import SigningError

from .chain import canonical_json, format_at

CHECKPOINT_FORMAT = "gateway-audit-checkpoint/1"
SIGNATURE_ALGORITHM = "rsa-pkcs1v15-sha256"


class CheckpointInvalid(Exception):
    pass


def checkpoint_payload(head_hash: str | None, count: int, last_event_id: int | None, at: datetime) -> bytes:
    """The bytes a checkpoint signs."""
    return canonical_json({"format": CHECKPOINT_FORMAT, "head_hash": head_hash, "count": count,
                           "last_event_id": last_event_id, "at": format_at(at)})


def sign_detached(data: bytes, key) -> str:
    """base64 RSA PKCS#1 v1.5 / SHA-256 signature of ``data`` with ``key`` (a KeyMaterial, or a key on a
    token: gateway.signing.hardware.TokenKey, which signs there)."""
    on_token = getattr(key, "sign_detached", None)
    if on_token is not None:
        try:
            return base64.b64encode(on_token(data)).decode("ascii")
        except SigningError as exc:
            raise CheckpointInvalid(str(exc)) from None
    private_key = key.private_key
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise CheckpointInvalid(f"detached signatures need an RSA key, got {type(private_key).__name__}")
    return base64.b64encode(private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_certificate(pem: str | bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii") if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise CheckpointInvalid(f"not a PEM X.509 certificate: {exc}") from None


def verify_detached(data: bytes, signature_b64: str, certificate: x509.Certificate,
                    trusted: list[x509.Certificate] | None = None) -> None:
    """Raise CheckpointInvalid unless ``signature_b64`` signs ``data`` with ``certificate``'s key
    (and, when ``trusted`` is given, that certificate is one of them)."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise CheckpointInvalid("the signature is not valid base64") from None
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise CheckpointInvalid(f"the certificate holds a {type(public_key).__name__}, not an RSA key")
    try:
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise CheckpointInvalid("the signature does not verify with the certificate: the signed "
                                "content was changed") from None
    if trusted is not None:
        der = certificate.public_bytes(serialization.Encoding.DER)
        if not any(der == t.public_bytes(serialization.Encoding.DER) for t in trusted):
            raise CheckpointInvalid(f"signed by certificate serial {format(certificate.serial_number, 'x')} "
                                    f"({certificate.subject.rfc4514_string()}), which is not trusted")


@dataclass(frozen=True)
class Checkpoint:
    """A signed chain head, as stored (table audit_checkpoints, a file, or a bundle)."""

    head_hash: str | None
    count: int
    last_event_id: int | None
    at: str                    # format_at
    signature: str             # base64
    certificate: str           # PEM
    id: int | None = None

    def payload(self) -> bytes:
        from .chain import parse_at

        return checkpoint_payload(self.head_hash, self.count, self.last_event_id, parse_at(self.at))

    def verify(self, trusted: list[x509.Certificate] | None = None) -> x509.Certificate:
        certificate = load_certificate(self.certificate)
        verify_detached(self.payload(), self.signature, certificate, trusted)
        return certificate

    def as_dict(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "id": self.id, "head_hash": self.head_hash, "count": self.count,
                "last_event_id": self.last_event_id, "at": self.at, "algorithm": SIGNATURE_ALGORITHM,
                "signature": self.signature, "certificate": self.certificate}

    @classmethod
    def from_dict(cls, d: dict) -> Checkpoint:
        if not isinstance(d, dict) or d.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointInvalid(f"not a {CHECKPOINT_FORMAT} checkpoint")
        try:
            return cls(head_hash=d["head_hash"], count=int(d["count"]), last_event_id=d["last_event_id"],
                       at=d["at"], signature=d["signature"], certificate=d["certificate"], id=d.get("id"))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointInvalid(f"checkpoint field missing or wrong: {exc}") from None


def make_checkpoint(head_hash: str | None, count: int, last_event_id: int | None, at: datetime, key) -> Checkpoint:
    payload = checkpoint_payload(head_hash, count, last_event_id, at)
    return Checkpoint(head_hash=head_hash, count=count, last_event_id=last_event_id, at=format_at(at),
                      signature=sign_detached(payload, key), certificate=certificate_pem(key.certificate))
