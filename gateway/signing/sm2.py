"""SM2 (GB/T 32918, GM/T 0003) signatures with SM3, keys and certificates.

Engines, chosen by measurement (docs/signing.md):

* ``tongsuo``: ``tongsuopy`` (the Tongsuo project's binding, OpenSSL-derived C, ~0.4 ms a
  signature). Used whenever it is installed and the signer uses the default user ID
  1234567812345678 (tongsuopy exposes no way to set another).
* ``python``: ``gmssl`` (pure Python, ~20 ms a signature), with the nonce drawn from ``secrets``
  (gmssl's own default nonce comes from ``random``, which must never be used for keys) and the
  SM2 ``Z`` value computed here, so any user ID works. Fallback where tongsuopy has no wheel
  (it ships x86_64 Linux wheels only) and for non-default user IDs.

Signatures are returned raw, ``r || s`` (32 + 32 bytes), as the E-Port UKey writes them;
``to_der`` / ``from_der`` convert to and from the X.509 ``ECDSA-Sig-Value`` form.
"""
from __future__ import annotations

import base64
import datetime as dt
import re
import secrets

from . import der
from .algorithms import SigningError
from .sm3 import sm3

DEFAULT_USER_ID = b"1234567812345678"

EC_PUBLIC_KEY_OID = "1.2.840.10045.2.1"
SM2_CURVE_OID = "1.2.156.10197.1.301"
SM2_WITH_SM3_OID = "1.2.156.10197.1.501"
COMMON_NAME_OID = "2.5.4.3"

# The SM2 recommended curve (GB/T 32918.5).
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

try:  # the fast engine (optional: x86_64 Linux wheels only)
    from tongsuopy.crypto import hashes as _ts_hashes
    from tongsuopy.crypto import serialization as _ts_serialization
    from tongsuopy.crypto.asymciphers import ec as _ts_ec
    TONGSUO = True
except ImportError:  # pragma: no cover - depends on the platform
    TONGSUO = False


def _b32(value: int) -> bytes:
    return value.to_bytes(32, "big")


def z_value(user_id: bytes, public_point: bytes) -> bytes:
    """Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GB/T 32918.2 §5.5)."""
    if len(user_id) * 8 > 0xFFFF:
        raise SigningError("SM2 user ID too long")
    entl = (len(user_id) * 8).to_bytes(2, "big")
    return sm3(entl + user_id + _b32(A) + _b32(B) + _b32(GX) + _b32(GY) + public_point)


def to_der(raw: bytes) -> bytes:
    """r || s (64 bytes) → DER ECDSA-Sig-Value."""
    if len(raw) != 64:
        raise SigningError(f"an SM2 raw signature has 64 bytes, not {len(raw)}")
    return der.seq(der.integer(int.from_bytes(raw[:32], "big")), der.integer(int.from_bytes(raw[32:], "big")))


def from_der(signature: bytes) -> bytes:
    """DER ECDSA-Sig-Value → r || s (64 bytes). Raises der.DerError when malformed."""
    items = der.children(der.only(signature, der.SEQUENCE))
    if len(items) != 2 or any(tag != der.INTEGER for tag, _, _ in items):
        raise der.DerError("an SM2 DER signature is SEQUENCE { INTEGER r, INTEGER s }")
    r, s = (der.read_integer(value) for _, value, _ in items)
    if r >= 1 << 256 or s >= 1 << 256:
        raise der.DerError("SM2 signature integers out of range")
    if der.seq(der.integer(r), der.integer(s)) != signature:
        raise der.DerError("SM2 DER signature is not in canonical DER")
    return _b32(r) + _b32(s)


class Sm2PublicKey:
    """An SM2 public key: the uncompressed point ``x || y`` (64 bytes)."""

    __slots__ = ("point", "_ts_key", "_z_cache")

    def __init__(self, point: bytes):
        if len(point) == 65 and point[0] == 4:
            point = point[1:]
        if len(point) != 64:
            raise SigningError("an SM2 public key is an uncompressed point of 64 (or 04 + 64) bytes")
        x, y = int.from_bytes(point[:32], "big"), int.from_bytes(point[32:], "big")
        if not (x < P and y < P and (y * y - (x * x * x + A * x + B)) % P == 0):
            raise SigningError("the SM2 public key is not a point on the SM2 curve")
        self.point = bytes(point)
        self._ts_key = None
        self._z_cache: dict[bytes, bytes] = {}

    def __eq__(self, other) -> bool:
        return isinstance(other, Sm2PublicKey) and other.point == self.point

    def __hash__(self) -> int:
        return hash(self.point)

    def __repr__(self) -> str:
        return f"Sm2PublicKey({self.point[:8].hex()}…)"

    def z(self, user_id: bytes) -> bytes:
        z = self._z_cache.get(user_id)
        if z is None:
            z = self._z_cache[user_id] = z_value(user_id, self.point)
        return z

    # -- encodings --
    def spki_der(self) -> bytes:
        return der.seq(der.seq(der.oid(EC_PUBLIC_KEY_OID), der.oid(SM2_CURVE_OID)),
                       der.bit_string(b"\x04" + self.point))

    @classmethod
    def from_spki_der(cls, spki: bytes) -> Sm2PublicKey:
        try:
            algorithm, key = der.children(der.only(spki, der.SEQUENCE))
            params = [v for _, v, _ in der.children(algorithm[1])]
            if (algorithm[0] != der.SEQUENCE or der.read_oid(params[0]) != EC_PUBLIC_KEY_OID
                    or len(params) != 2 or der.read_oid(params[1]) != SM2_CURVE_OID):
                raise SigningError("the public key is not an SM2 key (id-ecPublicKey on curve 1.2.156.10197.1.301)")
            if key[0] != der.BIT_STRING or key[1][:1] != b"\x00":
                raise der.DerError("bad public key BIT STRING")
            return cls(key[1][1:])
        except (der.DerError, IndexError, ValueError) as e:
            if isinstance(e, SigningError):
                raise
            raise SigningError(f"cannot read the SM2 public key: {e}") from None

    @classmethod
    def from_certificate(cls, certificate) -> Sm2PublicKey:
        """The SM2 public key of a ``cryptography`` x509.Certificate (which cannot give it itself)."""
        return cls.from_spki_der(certificate_spki(certificate))

    # -- verification --
    def verify(self, signature: bytes, data: bytes, user_id: bytes = DEFAULT_USER_ID) -> bool:
        """True when ``signature`` (raw r || s) is an SM2-with-SM3 signature of ``data``."""
        if len(signature) != 64:
            return False
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if not (1 <= r < N and 1 <= s < N):
            return False
        if TONGSUO and user_id == DEFAULT_USER_ID:
            try:
                self._tongsuo().verify(to_der(signature), data, _ts_ec.ECDSA(_ts_hashes.SM3()))
                return True
            except Exception:  # tongsuopy raises InvalidSignature (its own class) on failure
                return False
        return _gmssl_verify(self, signature, sm3(self.z(user_id) + data))

    def _tongsuo(self):
        if self._ts_key is None:
            self._ts_key = _ts_serialization.load_der_public_key(self.spki_der())
        return self._ts_key


class Sm2PrivateKey:
    """An SM2 private key (scalar d) with its public key. Never printed, never pickled."""

    __slots__ = ("_d", "public_key", "_ts_key")

    def __init__(self, d: int, public_point: bytes | None = None):
        if not 1 <= d < N - 1:
            raise SigningError("not a valid SM2 private key scalar")
        self._d = d
        self.public_key = Sm2PublicKey(public_point) if public_point is not None else Sm2PublicKey(_point_of(d))
        self._ts_key = None

    def __repr__(self) -> str:
        return f"Sm2PrivateKey(public={self.public_key.point[:8].hex()}…)"

    def __reduce__(self):
        raise TypeError("SM2 private keys are not pickled")

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        if TONGSUO:
            key = _ts_ec.generate_private_key(_ts_ec.SM2())
            der_bytes = key.private_bytes(_ts_serialization.Encoding.DER, _ts_serialization.PrivateFormat.PKCS8,
                                          _ts_serialization.NoEncryption())
            return cls.from_der(der_bytes)
        return cls(secrets.randbelow(N - 2) + 1)

    # -- encodings --
    def pkcs8_der(self) -> bytes:
        """Unencrypted PKCS#8 PrivateKeyInfo (for the encrypted key store and tests only)."""
        ec_private_key = der.seq(der.integer(1), der.octet_string(_b32(self._d)),
                                 der.tlv(0xA1, der.bit_string(b"\x04" + self.public_key.point)))
        return der.seq(der.integer(0), der.seq(der.oid(EC_PUBLIC_KEY_OID), der.oid(SM2_CURVE_OID)),
                       der.octet_string(ec_private_key))

    def pkcs8_pem(self) -> bytes:
        return _pem("PRIVATE KEY", self.pkcs8_der())

    @classmethod
    def from_der(cls, data: bytes) -> Sm2PrivateKey:
        """PKCS#8 PrivateKeyInfo or SEC1 ECPrivateKey (unencrypted) of an SM2 key."""
        try:
            items = der.children(der.only(data, der.SEQUENCE))
            if len(items) >= 3 and items[1][0] == der.SEQUENCE:           # PKCS#8
                params = [v for _, v, _ in der.children(items[1][1])]
                if der.read_oid(params[0]) != EC_PUBLIC_KEY_OID or der.read_oid(params[1]) != SM2_CURVE_OID:
                    raise SigningError("the private key is not an SM2 key")
                return cls._from_sec1(der.only(items[2][2], der.OCTET_STRING))
            return cls._from_sec1(data)
        except (der.DerError, IndexError, ValueError) as e:
            if isinstance(e, SigningError):
                raise
            raise SigningError(f"cannot read the SM2 private key: {e}") from None

    @classmethod
    def _from_sec1(cls, data: bytes) -> Sm2PrivateKey:
        items = der.children(der.only(data, der.SEQUENCE))
        if items[0][0] != der.INTEGER or der.read_integer(items[0][1]) != 1 or items[1][0] != der.OCTET_STRING:
            raise der.DerError("not an ECPrivateKey")
        d = int.from_bytes(items[1][1], "big")
        point = None
        for tag, value, _ in items[2:]:
            if tag == 0xA0 and der.read_oid(der.only(value, der.OID)) != SM2_CURVE_OID:
                raise SigningError("the EC private key is not on the SM2 curve")
            if tag == 0xA1:
                bits = der.only(value, der.BIT_STRING)
                point = bits[1:]
        key = cls(d)
        if point is not None and Sm2PublicKey(point) != key.public_key:
            raise SigningError("the SM2 private key's embedded public key does not match the scalar")
        return key

    @classmethod
    def from_pem(cls, data: bytes, password: bytes | None = None) -> Sm2PrivateKey:
        """PEM "PRIVATE KEY" / "EC PRIVATE KEY", or "ENCRYPTED PRIVATE KEY" (needs tongsuopy)."""
        match = re.search(rb"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", data, re.S)
        if match is None:
            raise SigningError("no PEM private key found")
        label, body = match.group(1), match.group(2)
        if label == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in body:
            if not TONGSUO:
                raise SigningError("encrypted SM2 PEM keys need tongsuopy; decrypt with `openssl pkey` first")
            if password is None:
                raise SigningError("the SM2 private key is encrypted: a password is needed")
            try:
                key = _ts_serialization.load_pem_private_key(data, password=password)
            except (ValueError, TypeError) as e:
                raise SigningError(f"cannot decrypt the SM2 private key (wrong password?): {e}") from None
            return cls.from_der(key.private_bytes(_ts_serialization.Encoding.DER,
                                                  _ts_serialization.PrivateFormat.PKCS8,
                                                  _ts_serialization.NoEncryption()))
        if label not in (b"PRIVATE KEY", b"EC PRIVATE KEY"):
            raise SigningError(f"unexpected PEM block {label.decode()!r} for an SM2 private key")
        try:
            raw = base64.b64decode(b"".join(body.split()), validate=True)
        except ValueError:
            raise SigningError("the PEM private key is not valid base64") from None
        return cls.from_der(raw)

    # -- signing --
    def sign(self, data: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
        """SM2-with-SM3 signature of ``data`` (Z || data hashed with SM3), raw r || s."""
        if TONGSUO and user_id == DEFAULT_USER_ID:
            return from_der(self._tongsuo().sign(data, _ts_ec.ECDSA(_ts_hashes.SM3())))
        return _gmssl_sign(self, sm3(self.public_key.z(user_id) + data))

    def _tongsuo(self):
        if self._ts_key is None:
            self._ts_key = _ts_serialization.load_der_private_key(self.pkcs8_der(), password=None)
        return self._ts_key


# ---- the pure-Python engine (gmssl), digest-level ----------------------------------------------

def _gmssl(public_point: bytes, d: int | None = None):
    from gmssl import sm2 as gm
    return gm.CryptSM2(private_key=None if d is None else f"{d:064x}", public_key=public_point.hex())


def _gmssl_sign(key: Sm2PrivateKey, e: bytes) -> bytes:
    crypt = _gmssl(key.public_key.point, key._d)
    for _ in range(16):
        value = crypt.sign(e, secrets.token_hex(32))   # never gmssl's own nonce (random.choice)
        if value:
            return bytes.fromhex(value)
    raise SigningError("SM2 signing failed repeatedly")  # pragma: no cover - probability ~2^-250


def _gmssl_verify(key: Sm2PublicKey, signature: bytes, e: bytes) -> bool:
    return bool(_gmssl(key.point).verify(signature.hex(), e))


def _point_of(d: int) -> bytes:
    """d·G (for keys given without their public point)."""
    from gmssl import sm2 as gm
    crypt = gm.CryptSM2(private_key=f"{d:064x}", public_key="00" * 64)
    return bytes.fromhex(crypt._kg(d, crypt.ecc_table["g"]))


# ---- certificates --------------------------------------------------------------------------------

def certificate_spki(certificate) -> bytes:
    """The SubjectPublicKeyInfo (DER) of a ``cryptography`` certificate, read from its TBS bytes."""
    try:
        fields = der.children(der.only(certificate.tbs_certificate_bytes, der.SEQUENCE))
        if fields[0][0] == 0xA0:      # [0] version
            fields = fields[1:]
        return fields[5][2]           # serial, signature, issuer, validity, subject, spki
    except (der.DerError, IndexError) as e:
        raise SigningError(f"cannot read the certificate's public key info: {e}") from None


def self_signed_certificate(key: Sm2PrivateKey, common_name: str, *, days: int = 3652,
                            serial: int | None = None, not_before: dt.datetime | None = None) -> bytes:
    """A self-signed X.509 v3 certificate (DER) for an SM2 key, signed SM2-with-SM3 (default ID).

    For development and tests; production certificates come from the E-Port / a CA.
    """
    now = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    serial = serial or (secrets.randbits(63) | 1 << 62)
    name = der.seq(der.set_of(der.seq(der.oid(COMMON_NAME_OID), der.utf8(common_name))))
    algorithm = der.seq(der.oid(SM2_WITH_SM3_OID))
    basic_constraints = der.seq(der.oid("2.5.29.19"), der.tlv(0x01, b"\xff"), der.octet_string(der.seq()))
    key_usage = der.seq(der.oid("2.5.29.15"), der.tlv(0x01, b"\xff"),
                        der.octet_string(der.tlv(der.BIT_STRING, b"\x06\xc0")))  # digitalSignature, nonRepudiation
    tbs = der.seq(
        der.explicit(0, der.integer(2)),
        der.integer(serial),
        algorithm,
        name,
        der.seq(der.time(now), der.time(now + dt.timedelta(days=days))),
        name,
        key.public_key.spki_der(),
        der.explicit(3, der.seq(basic_constraints, key_usage)),
    )
    signature = to_der(key.sign(tbs))
    return der.seq(tbs, algorithm, der.bit_string(signature))


def _pem(label: str, data: bytes) -> bytes:
    body = base64.encodebytes(data).decode("ascii").replace("\n", "")
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n".encode("ascii")


def certificate_pem(certificate_der: bytes) -> bytes:
    return _pem("CERTIFICATE", certificate_der)
