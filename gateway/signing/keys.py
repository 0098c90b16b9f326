"""Signing keys: a private key with its certificate, loaded once and reused for every signature.

RSA keys are ``cryptography`` keys; SM2 keys are ``gateway.signing.sm2.Sm2PrivateKey`` (cryptography
has no SM2). Certificates are ``cryptography`` x509 certificates for both (it parses SM2 certificates,
only their public keys are read by ``sm2.Sm2PublicKey.from_certificate``).
"""
from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm as _CryptographyUnsupported
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from . import sm2
from .algorithms import SigningError

DEV_KEY_FILE = "dev-signing-key.pem"
DEV_CERT_FILE = "dev-signing-cert.pem"
DEV_SM2_KEY_FILE = "dev-sm2-signing-key.pem"
DEV_SM2_CERT_FILE = "dev-sm2-signing-cert.pem"


def serial_hex(certificate: x509.Certificate) -> str:
    """The KeyName of a certificate: its certificate number as E-Port cards give it, i.e. the bytes of
    the serial's DER INTEGER in lower-case hex, leading zeros kept (``01691fe9``, ``03000000000cde6f``)."""
    return serial_bytes_hex(certificate.serial_number)


def serial_bytes_hex(serial: int) -> str:
    """The DER INTEGER content bytes of a (positive) serial number in lower-case hex: whole bytes,
    and a 00 byte in front when the top bit is set, as the certificate itself holds the serial."""
    return serial.to_bytes(serial.bit_length() // 8 + 1, "big").hex() if serial else "00"


@dataclass(frozen=True)
class SignerIdentity:
    """What ds:KeyInfo says about the signer: KeyName (certificate serial, hex) and the certificate."""

    key_name: str
    certificate_b64: str          # base64 DER, one line
    certificate: x509.Certificate

    @classmethod
    def of(cls, certificate: x509.Certificate, key_name: str | None = None) -> SignerIdentity:
        der = certificate.public_bytes(serialization.Encoding.DER)
        return cls(key_name or serial_hex(certificate), base64.b64encode(der).decode("ascii"), certificate)


@dataclass(frozen=True)
class KeyMaterial:
    """A private key and its certificate, with the ds:KeyInfo texts computed once."""

    private_key: rsa.RSAPrivateKey | sm2.Sm2PrivateKey
    certificate: x509.Certificate
    key_name: str = field(init=False)
    certificate_b64: str = field(init=False)
    identity: SignerIdentity = field(init=False, repr=False, compare=False)

    @property
    def key_type(self) -> str:
        return "sm2" if isinstance(self.private_key, sm2.Sm2PrivateKey) else "rsa"

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, (rsa.RSAPrivateKey, sm2.Sm2PrivateKey)):
            raise SigningError(f"unsupported private key type {type(self.private_key).__name__}; RSA or SM2 only")
        if not _same_public_key(self.private_key, self.certificate):
            raise SigningError(
                f"the private key does not match the certificate (serial {serial_hex(self.certificate)}, "
                f"subject {self.certificate.subject.rfc4514_string()})")
        identity = SignerIdentity.of(self.certificate)
        object.__setattr__(self, "key_name", identity.key_name)
        object.__setattr__(self, "certificate_b64", identity.certificate_b64)
        object.__setattr__(self, "identity", identity)

    def __repr__(self) -> str:  # never print key material
        return f"KeyMaterial(key_name={self.key_name!r}, subject={self.certificate.subject.rfc4514_string()!r})"


def _same_public_key(private_key, certificate: x509.Certificate) -> bool:
    if isinstance(private_key, sm2.Sm2PrivateKey):
        try:
            return sm2.Sm2PublicKey.from_certificate(certificate) == private_key.public_key
        except SigningError:
            return False
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        return private_key.public_key().public_bytes(*spki) == certificate.public_key().public_bytes(*spki)
    except _CryptographyUnsupported:   # an SM2 certificate with an RSA key
        return False


def load_private_key_pem(data: bytes, password: bytes | None = None,
                         what: str = "private key") -> rsa.RSAPrivateKey | sm2.Sm2PrivateKey:
    """An RSA (cryptography) or SM2 (sm2.Sm2PrivateKey) private key from PEM bytes."""
    key: object
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except _CryptographyUnsupported:
        key = sm2.Sm2PrivateKey.from_pem(data, password)     # the curve cryptography refuses
    except (ValueError, TypeError) as e:
        if b"ENCRYPTED PRIVATE KEY" in data and password is not None and sm2.TONGSUO:
            try:   # cryptography cannot even decrypt a PKCS#8 of an unknown curve
                return sm2.Sm2PrivateKey.from_pem(data, password)
            except SigningError:
                pass
        raise SigningError(f"cannot load {what} (wrong password or not a PEM key): {e}") from e
    if not isinstance(key, (rsa.RSAPrivateKey, sm2.Sm2PrivateKey)):
        raise SigningError(f"{what} is a {type(key).__name__}; only RSA and SM2 keys are supported")
    return key


def load_pkcs12(data: bytes, password: bytes | None) -> KeyMaterial:
    """Key and certificate from a PKCS#12 (.p12/.pfx) file (RSA; SM2 PKCS#12 is not readable here)."""
    try:
        private_key, certificate, _ = pkcs12.load_key_and_certificates(data, password)
    except _CryptographyUnsupported as e:
        raise SigningError(f"PKCS#12 with an unsupported key (SM2 keys: import PEM instead): {e}") from None
    except (ValueError, TypeError) as e:
        raise SigningError(f"cannot read the PKCS#12 file (wrong password?): {e}") from None
    if private_key is None or certificate is None:
        raise SigningError("the PKCS#12 file must hold one private key and its certificate")
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise SigningError(f"the PKCS#12 key is a {type(private_key).__name__}; only RSA keys are read from PKCS#12")
    if not _same_public_key(private_key, certificate):
        raise SigningError(f"the PKCS#12 private key does not match its certificate (serial {serial_hex(certificate)})")
    return KeyMaterial(private_key, certificate)


def load_key_material(key_path: str | os.PathLike, cert_path: str | os.PathLike,
                      password: bytes | None = None) -> KeyMaterial:
    """Load a PEM private key and PEM certificate, and check that they belong together."""
    key_path, cert_path = Path(key_path), Path(cert_path)
    try:
        key_bytes = key_path.read_bytes()
    except OSError as e:
        raise SigningError(f"cannot read private key {key_path}: {e.strerror or e}") from e
    private_key = load_private_key_pem(key_bytes, password, f"private key {key_path}")
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except OSError as e:
        raise SigningError(f"cannot read certificate {cert_path}: {e.strerror or e}") from e
    except ValueError as e:
        raise SigningError(f"cannot load certificate {cert_path} (not a PEM X.509 certificate): {e}") from e
    if not _same_public_key(private_key, certificate):
        raise SigningError(
            f"private key {key_path} does not match certificate {cert_path} "
            f"(certificate serial {serial_hex(certificate)}, subject {certificate.subject.rfc4514_string()})")
    return KeyMaterial(private_key, certificate)


def ensure_dev_key(instance_dir: Path, common_name: str = "Gateway development signer",
                   key_type: str = "rsa") -> KeyMaterial:
    """A self-signed development signer under ``instance_dir/keys``, created on first use:
    RSA-2048 (``key_type="rsa"``) or SM2 with an SM2-with-SM3 self-signed certificate ("sm2").

    THROW-AWAY DEVELOPMENT KEY: for development and tests only, stored UNENCRYPTED (mode 0600).
    Real keys live in the encrypted key store (gateway.signing.keystore), a token or a bridge.
    """
    if key_type not in ("rsa", "sm2"):
        raise SigningError(f"key_type must be rsa or sm2, not {key_type!r}")
    keys = Path(instance_dir) / "keys"
    key_file, cert_file = (DEV_KEY_FILE, DEV_CERT_FILE) if key_type == "rsa" else (DEV_SM2_KEY_FILE, DEV_SM2_CERT_FILE)
    key_path, cert_path = keys / key_file, keys / cert_file
    if key_path.exists() and cert_path.exists():
        return load_key_material(key_path, cert_path)
    if key_path.exists() or cert_path.exists():
        raise SigningError(f"incomplete development key in {keys}: need both {key_file} and {cert_file}; "
                           "remove the remaining file to create a new pair")
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    if key_type == "sm2":
        sm2_key = sm2.Sm2PrivateKey.generate()
        certificate = x509.load_der_x509_certificate(sm2.self_signed_certificate(sm2_key, common_name + " (SM2)"))
        _write_new(key_path, sm2_key.pkcs8_pem(), 0o600)
        _write_new(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
        return KeyMaterial(sm2_key, certificate)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = _self_signed(private_key, common_name)
    _write_new(key_path, private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
    _write_new(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return KeyMaterial(private_key, certificate)


def _self_signed(private_key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
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
