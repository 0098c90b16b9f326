"""Tenant key store: signing keys per tenant and channel, private keys encrypted at rest.

* Import a PKCS#12 (RSA) or PEM key + certificate (RSA or SM2); the key is checked against the
  certificate before anything is stored.
* The private key is stored only as AES-256-GCM ciphertext of its PKCS#8 DER, under the master key
  from the environment (``GATEWAY_KEYSTORE_KEY``: 32 random bytes, base64). The associated data
  binds each ciphertext to its row (key id, tenant, channel, certificate serial), so a ciphertext
  copied to another row does not decrypt. The gateway refuses to start when the store holds keys
  and the master key is missing or is not the one they were encrypted with.
* Rotation without downtime: a new key becomes active from a given time; the old one stays (its
  certificate is still offered for verifying what it signed) — it is simply no longer chosen.
* Validity: every listing shows the certificate's validity and warns 30 days before expiry.

Decrypted keys are cached per key id in the ``KeyStore`` object (decrypted and parsed once per
process: ~50 ms for an RSA-2048 key), so choosing a tenant's key on the submit path costs one indexed
query of the key rows' dates, read in the order plan's transaction. The rows are read on every choice,
so a key imported or rotated by another process signs the next order; a new key is a new row (id).
"""
from __future__ import annotations

import base64
import binascii
import builtins
import functools
import hashlib
import logging
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam, select

from . import sm2
from .algorithms import SigningError
from .keys import KeyMaterial, serial_hex

log = logging.getLogger(__name__)

ENV_VAR = "GATEWAY_KEYSTORE_KEY"
DEFAULT_CHANNEL = "ceb"
EXPIRY_WARNING = timedelta(days=30)
_BLOB_VERSION = b"GK1"


class KeystoreError(SigningError):
    """A key store operation was refused; the message says why."""


def new_master_key() -> str:
    """A fresh value for GATEWAY_KEYSTORE_KEY (32 random bytes, base64)."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class KeyEncryptor:
    """AES-256-GCM with the master key; ``key_id`` = first 8 bytes of SHA-256(master key), hex."""

    def __init__(self, master_key: bytes):
        if len(master_key) != 32:
            raise KeystoreError(f"{ENV_VAR} must be 32 bytes (base64-encoded), not {len(master_key)}")
        self._aead = AESGCM(master_key)
        self.key_id = hashlib.sha256(b"gateway-keystore:" + master_key).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"KeyEncryptor(key_id={self.key_id!r})"

    @classmethod
    def from_text(cls, text: str) -> KeyEncryptor:
        text = text.strip()
        try:
            if "-" in text or "_" in text:
                raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            else:
                raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise KeystoreError(f"{ENV_VAR} is not valid base64 (make one with `gateway keys new-master-key`)") from None
        return cls(raw)

    def encrypt(self, plaintext: bytes, associated: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return _BLOB_VERSION + nonce + self._aead.encrypt(nonce, plaintext, associated)

    def decrypt(self, blob: bytes, associated: bytes) -> bytes:
        if not blob.startswith(_BLOB_VERSION) or len(blob) < len(_BLOB_VERSION) + 12 + 16:
            raise KeystoreError("stored private key has an unknown format")
        nonce, body = blob[3:15], blob[15:]
        try:
            return self._aead.decrypt(nonce, body, associated)
        except Exception:   # cryptography.exceptions.InvalidTag
            raise KeystoreError("stored private key does not decrypt: wrong master key or the row was altered") from None


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a stored key (never the private key)."""

    id: str
    tenant_id: str
    channel: str
    key_type: str
    key_name: str
    subject: str
    not_before: datetime
    not_after: datetime
    active_from: datetime
    label: str
    state: str                 # active | scheduled | superseded | expired | not-yet-valid
    days_left: int
    warnings: tuple[str, ...]

    def as_dict(self) -> dict:
        return {
            "id": self.id, "tenant_id": self.tenant_id, "channel": self.channel, "key_type": self.key_type,
            "key_name": self.key_name, "subject": self.subject, "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(), "active_from": self.active_from.isoformat(),
            "label": self.label, "state": self.state, "days_left": self.days_left, "warnings": list(self.warnings),
        }


def _associated(key_id: str, tenant_id: str, channel: str, key_name: str) -> bytes:
    return f"gateway-keystore/v1|{key_id}|{tenant_id}|{channel}|{key_name}".encode()


def _private_der(material: KeyMaterial) -> bytes:
    if isinstance(material.private_key, sm2.Sm2PrivateKey):
        return material.private_key.pkcs8_der()
    return material.private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())


def _load_private_der(key_type: str, data: bytes):
    if key_type == "sm2":
        return sm2.Sm2PrivateKey.from_der(data)
    return serialization.load_der_private_key(data, password=None)


class KeyStore:
    """Tenant signing keys in the database. ``encryptor`` None: keys can be listed, not used or added."""

    def __init__(self, uow_factory, encryptor: KeyEncryptor | None, clock=None):
        self._uow_factory = uow_factory
        self.encryptor = encryptor
        self._clock = clock
        self._cache: dict[str, KeyMaterial] = {}
        self._lock = threading.Lock()

    def _now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(UTC)

    def _require_encryptor(self) -> KeyEncryptor:
        if self.encryptor is None:
            raise KeystoreError(f"the key store needs {ENV_VAR} (the master key); it is not set")
        return self.encryptor

    # ---- start-up check ---------------------------------------------------------------------
    def check_startup(self) -> None:
        """Refuse to run when keys are stored but the master key is missing or different."""
        from gateway.store.models import SigningKey

        with self._uow_factory() as uow:
            ids = set(uow.session.scalars(select(SigningKey.master_key_id)).all())
        if not ids:
            return
        if self.encryptor is None:
            raise KeystoreError(f"the key store holds tenant signing keys but {ENV_VAR} is not set; "
                                "refusing to start (set the master key the keys were imported with)")
        if self.encryptor.key_id not in ids:
            raise KeystoreError(f"{ENV_VAR} is not the master key the stored keys were encrypted with "
                                f"(stored: {', '.join(sorted(ids))}; given: {self.encryptor.key_id})")

    # ---- import and rotation ------------------------------------------------------------------
    def import_key(self, tenant_id: str, material: KeyMaterial, *, channel: str = DEFAULT_CHANNEL,
                   active_from: datetime | None = None, label: str = "", rotate: bool = False) -> KeyInfo:
        """Store ``material`` for the tenant's channel. The first key of a channel is imported;
        later ones need ``rotate=True`` (``rotate`` below) so that replacing a key is deliberate."""
        from gateway.store.models import SigningKey

        encryptor = self._require_encryptor()
        now = self._now()
        active_from = active_from or now
        if active_from.tzinfo is None:
            raise KeystoreError("active_from needs a time zone")
        certificate = material.certificate
        if certificate.not_valid_after_utc <= now:
            raise KeystoreError(f"the certificate (serial {material.key_name}) expired on "
                                f"{certificate.not_valid_after_utc.isoformat()}")
        if certificate.not_valid_after_utc <= active_from:
            raise KeystoreError("the certificate expires before the key would become active")
        with self._uow_factory() as uow:
            if uow.tenants.get(tenant_id) is None:
                raise KeystoreError(f"unknown tenant {tenant_id}")
            existing = uow.session.scalars(select(SigningKey).where(
                SigningKey.tenant_id == tenant_id, SigningKey.channel == channel)).all()
            if any(row.key_name == material.key_name for row in existing):
                raise KeystoreError(f"tenant {tenant_id} already has the key {material.key_name} on channel {channel}")
            if existing and not rotate:
                raise KeystoreError(f"tenant {tenant_id} already has a key on channel {channel}; "
                                    "use rotate to add its successor")
            if not existing and rotate:
                raise KeystoreError(f"tenant {tenant_id} has no key on channel {channel} to rotate; import one first")
            key_id = str(uuid.uuid4()).upper()
            blob = encryptor.encrypt(_private_der(material), _associated(key_id, tenant_id, channel, material.key_name))
            row = SigningKey(
                id=key_id, tenant_id=tenant_id, channel=channel, key_type=material.key_type,
                key_name=material.key_name, subject=certificate.subject.rfc4514_string(),
                certificate=certificate.public_bytes(serialization.Encoding.DER), private_key=blob,
                master_key_id=encryptor.key_id, not_before=certificate.not_valid_before_utc,
                not_after=certificate.not_valid_after_utc, active_from=active_from, label=label[:100],
                created_at=now)
            uow.session.add(row)
            uow.audit.record(tenant_id, "signing_key", key_id, "signing_key.rotated" if rotate else "signing_key.imported",
                             {"channel": channel, "key_name": material.key_name, "key_type": material.key_type,
                              "active_from": active_from.isoformat(),
                              "not_after": certificate.not_valid_after_utc.isoformat()})
            uow.commit()
            infos = self._describe(existing + [row], now)
        with self._lock:
            self._cache[key_id] = material
        return next(i for i in infos if i.id == key_id)

    def rotate(self, tenant_id: str, material: KeyMaterial, *, channel: str = DEFAULT_CHANNEL,
               active_from: datetime | None = None, label: str = "") -> KeyInfo:
        """Add the successor key, active from ``active_from`` (default now). Until then the current
        key keeps signing; afterwards the old key stays stored for verification only."""
        return self.import_key(tenant_id, material, channel=channel, active_from=active_from, label=label, rotate=True)

    # ---- reading ------------------------------------------------------------------------------
    def list(self, tenant_id: str | None = None) -> list[KeyInfo]:
        from gateway.store.models import SigningKey

        query = select(SigningKey).order_by(SigningKey.tenant_id, SigningKey.channel, SigningKey.active_from)
        if tenant_id is not None:
            query = query.where(SigningKey.tenant_id == tenant_id)
        with self._uow_factory() as uow:
            rows = uow.session.scalars(query).all()
            return self._describe(rows, self._now())

    def key_for(self, tenant_id: str, channel: str = DEFAULT_CHANNEL, at: datetime | None = None, *,
                uow=None) -> KeyMaterial | None:
        """The tenant's key in force on ``channel`` at ``at`` (default now), or None if the tenant has
        no key there. Raises KeystoreError if it has keys but none is usable (all expired, or none active yet).
        ``uow``: read in the caller's unit of work (the order plan's read transaction), not in one of its own.
        The rows are read every time (an import or rotation in any process counts at once); only the
        decrypted key is cached, by its row id (a new key is a new row)."""
        from gateway.store.db import reader

        at = at or self._now()
        if uow is not None:
            return self._choose(uow, tenant_id, channel, at)
        with reader(self._uow_factory)() as fresh:     # reads only (every signing asks)
            return self._choose(fresh, tenant_id, channel, at)

    def _choose(self, uow, tenant_id: str, channel: str, at: datetime) -> KeyMaterial | None:
        """The dates of the channel's keys (one statement built once, no key bytes); the chosen row whole only
        when its decrypted key is not cached yet."""
        from gateway.store.models import SigningKey

        rows = uow.session.connection().execute(_choice_query(), {"tenant_id": tenant_id, "channel": channel}).all()
        if not rows:
            return None
        usable = [r for r in rows if r.active_from <= at and r.not_before <= at < r.not_after]
        if not usable:
            states = "; ".join(f"{r.key_name}: active from {r.active_from.isoformat()}, valid until "
                               f"{r.not_after.isoformat()}" for r in rows)
            raise KeystoreError(f"tenant {tenant_id} has no usable signing key on channel {channel} at "
                                f"{at.isoformat()} ({states})")
        chosen = max(usable, key=lambda r: (r.active_from, r.created_at))
        with self._lock:
            cached = self._cache.get(chosen.id)
        return cached if cached is not None else self._material(uow.session.get(SigningKey, chosen.id))

    def certificates(self, tenant_id: str, channel: str = DEFAULT_CHANNEL) -> builtins.list[x509.Certificate]:
        """Every certificate the tenant has had on ``channel`` (current and rotated out), for verification."""
        from gateway.store.models import SigningKey

        with self._uow_factory() as uow:
            rows = uow.session.scalars(select(SigningKey.certificate).where(
                SigningKey.tenant_id == tenant_id, SigningKey.channel == channel)).all()
        return [x509.load_der_x509_certificate(bytes(der)) for der in rows]

    def _material(self, row) -> KeyMaterial:
        with self._lock:
            cached = self._cache.get(row.id)
        if cached is not None:
            return cached
        encryptor = self._require_encryptor()
        if row.master_key_id != encryptor.key_id:
            raise KeystoreError(f"key {row.key_name} of tenant {row.tenant_id} was encrypted with master key "
                                f"{row.master_key_id}, not with the configured {encryptor.key_id}")
        plain = encryptor.decrypt(bytes(row.private_key), _associated(row.id, row.tenant_id, row.channel, row.key_name))
        material = KeyMaterial(_load_private_der(row.key_type, plain),
                               x509.load_der_x509_certificate(bytes(row.certificate)))
        if material.key_name != row.key_name:
            raise KeystoreError(f"stored key {row.id} does not match its certificate")
        with self._lock:
            self._cache[row.id] = material
        return material

    def _describe(self, rows, now: datetime) -> builtins.list[KeyInfo]:   # ``list`` here is the method above
        by_channel: dict[tuple[str, str], builtins.list] = {}
        for row in rows:
            by_channel.setdefault((row.tenant_id, row.channel), []).append(row)
        out = []
        for group in by_channel.values():
            usable = [r for r in group if r.active_from <= now and r.not_before <= now < r.not_after]
            current = max(usable, key=lambda r: (r.active_from, r.created_at)) if usable else None
            for row in sorted(group, key=lambda r: (r.active_from, r.created_at)):
                days_left = (row.not_after - now).days
                if row.not_after <= now:
                    state = "expired"
                elif row.active_from > now:
                    state = "scheduled"
                elif row.not_before > now:
                    state = "not-yet-valid"
                elif row is current:
                    state = "active"
                else:
                    state = "superseded"
                warnings = []
                if state == "expired":
                    warnings.append(f"certificate expired on {row.not_after.date().isoformat()}")
                elif row.not_after - now <= EXPIRY_WARNING and state in ("active", "scheduled"):
                    successor = any(r.active_from > row.active_from and r.not_after > row.not_after for r in group)
                    warnings.append(f"certificate expires in {days_left} days ({row.not_after.date().isoformat()})"
                                    + ("" if successor else "; no successor key is scheduled: rotate now"))
                out.append(KeyInfo(row.id, row.tenant_id, row.channel, row.key_type, row.key_name, row.subject,
                                   row.not_before, row.not_after, row.active_from, row.label, state, days_left,
                                   tuple(warnings)))
        return out


@functools.cache
def _choice_query():
    """What choosing a key reads (``KeyStore._choose``): built once, straight to the connection."""
    from gateway.store.models import SigningKey

    return select(SigningKey.id, SigningKey.key_name, SigningKey.active_from, SigningKey.not_before,
                  SigningKey.not_after, SigningKey.created_at).where(
        SigningKey.tenant_id == bindparam("tenant_id"), SigningKey.channel == bindparam("channel"))


def load_material(*, pkcs12_data: bytes | None = None, key_pem: bytes | None = None, cert_pem: bytes | None = None,
                  password: bytes | None = None) -> KeyMaterial:
    """Key material from PKCS#12 bytes, or from PEM key + PEM certificate bytes (key checked against certificate)."""
    from .keys import load_pkcs12, load_private_key_pem

    if pkcs12_data is not None:
        return load_pkcs12(pkcs12_data, password)
    if key_pem is None or cert_pem is None:
        raise KeystoreError("give a PKCS#12 file, or a PEM key and its PEM certificate")
    private_key = load_private_key_pem(key_pem, password)
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        try:
            certificate = x509.load_der_x509_certificate(cert_pem)
        except ValueError as e:
            raise KeystoreError(f"the certificate is neither PEM nor DER X.509: {e}") from None
    try:
        return KeyMaterial(private_key, certificate)
    except SigningError as e:
        raise KeystoreError(f"{e} (certificate serial {serial_hex(certificate)})") from None
