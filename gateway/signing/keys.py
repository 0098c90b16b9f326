"""Signing keys: a private key with its certificate, loaded once and reused for every signature."""
from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .algorithms import SigningError

DEV_KEY_FILE = "dev-signing-key.pem"
DEV_CERT_FILE = "dev-signing-cert.pem"


def serial_hex(certificate: x509.Certificate) -> str:
    """The KeyName of a certificate: its serial number in lower-case hex, no 0x, no padding."""
    return format(certificate.serial_number, "x")


@dataclass(frozen=True)
class KeyMaterial:
    """A private key and its certificate, with the ds:KeyInfo texts computed once."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    key_name: str = field(init=False)
    certificate_b64: str = field(init=False)

    def __post_init__(self) -> None:
        if not _same_public_key(self.private_key, self.certificate):
            raise SigningError(
                f"the private key does not match the certificate (serial {serial_hex(self.certificate)}, "
                f"subject {self.certificate.subject.rfc4514_string()})")
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        object.__setattr__(self, "key_name", serial_hex(self.certificate))
        object.__setattr__(self, "certificate_b64", base64.b64encode(der).decode("ascii"))

    def __repr__(self) -> str:  # never print key material
        return f"KeyMaterial(key_name={self.key_name!r}, subject={self.certificate.subject.rfc4514_string()!r})"


def _same_public_key(private_key, certificate: x509.Certificate) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return private_key.public_key().public_bytes(*spki) == certificate.public_key().public_bytes(*spki)


def load_key_material(key_path: str | os.PathLike, cert_path: str | os.PathLike,
                      password: bytes | None = None) -> KeyMaterial:
    """Load a PEM private key and PEM certificate, and check that they belong together."""
    key_path, cert_path = Path(key_path), Path(cert_path)
    try:
        private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=password)
    except OSError as e:
        raise SigningError(f"cannot read private key {key_path}: {e.strerror or e}") from e
    except (ValueError, TypeError) as e:
        raise SigningError(f"cannot load private key {key_path} (wrong password or not a PEM key): {e}") from e
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except OSError as e:
        raise SigningError(f"cannot read certificate {cert_path}: {e.strerror or e}") from e
    except ValueError as e:
        raise SigningError(f"cannot load certificate {cert_path} (not a PEM X.509 certificate): {e}") from e
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise SigningError(f"private key {key_path} is not an RSA key ({type(private_key).__name__}); "
                           "only RSA is supported until SM2 lands")
    if not _same_public_key(private_key, certificate):
        raise SigningError(
            f"private key {key_path} does not match certificate {cert_path} "
            f"(certificate serial {serial_hex(certificate)}, subject {certificate.subject.rfc4514_string()})")
    return KeyMaterial(private_key, certificate)


def ensure_dev_key(instance_dir: Path, common_name: str = "Gateway development signer") -> KeyMaterial:
    """A self-signed RSA-2048 development signer under ``instance_dir/keys``, created on first use.

    For development and tests only: the key is stored unencrypted (mode 0600).
    """
    keys = Path(instance_dir) / "keys"
    key_path, cert_path = keys / DEV_KEY_FILE, keys / DEV_CERT_FILE
    if key_path.exists() and cert_path.exists():
        return load_key_material(key_path, cert_path)
    if key_path.exists() or cert_path.exists():
        raise SigningError(f"incomplete development key in {keys}: need both {DEV_KEY_FILE} and {DEV_CERT_FILE}; "
                           "remove the remaining file to create a new pair")
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = _self_signed(private_key, common_name)
    _write_new(key_path, private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
    _write_new(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return KeyMaterial(private_key, certificate)


def _self_signed(private_key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3652))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(private_key, hashes.SHA256())
    )


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (no window where a key is world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)  # the umask may have narrowed it; make it exactly ``mode``
