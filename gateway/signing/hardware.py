"""The gateway's own key on a PKCS#11 token or behind the signing bridge (GATEWAY_SIGNING_BACKEND).

    backend = open_backend(BackendSpec(kind="pkcs11", module=..., token=..., key_label=..., pin=...), algorithms)
    key = TokenKey.of(backend, "gateway-2026")       # stands where a KeyMaterial stands
    signer = XmlSigner(algorithms, backend=Routing(backend, software_backend(algorithms, sm2)))
    signer.sign(root, key)                            # the token signs; a tenant's KeyMaterial: software

A ``TokenKey`` is the key reference the rest of the gateway passes around as "the gateway key"
(``Gateway.key``, the key of tenants without their own): it has what a KeyMaterial shows
(``key_type``, ``key_name``, ``certificate``, ``identity``) but no private key. ``Routing`` sends a
TokenKey to the hardware backend and any KeyMaterial (tenant keys from the key store) to the
software backend of the same algorithm, so one XmlSigner per key type serves both.

One backend per process and spec (``open_backend`` keeps it): the PKCS#11 session is opened and
logged in once; a forked child (gunicorn worker, dispatcher process) reopens it on first use
(gateway.signing.pkcs11, gateway.signing.bridge check the process id).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from .algorithms import SignatureAlgorithms, SigningError
from .keys import KeyMaterial, SignerIdentity

KINDS = ("software", "pkcs11", "bridge")


@dataclass(frozen=True)
class BackendSpec:
    """What GATEWAY_SIGNING_BACKEND and its variables say (the secrets never in ``repr``)."""

    kind: str
    module: str | None = None
    token: str | None = None
    key_label: str | None = None
    pin: str | None = field(default=None, repr=False)
    certificate: x509.Certificate | None = field(default=None, repr=False)
    url: str | None = None
    password: str | None = field(default=None, repr=False)
    sm2_encoding: str = "raw"


@dataclass(frozen=True)
class TokenKey:
    """The gateway key held by a hardware backend: its label there and its certificate."""

    backend: Any = field(repr=False, compare=False)
    label: str | None
    identity: SignerIdentity = field(repr=False)

    @classmethod
    def of(cls, backend, label: str | None) -> TokenKey:
        return cls(backend, label, backend.certificate(label))

    @property
    def key_type(self) -> str:
        return self.backend.key_type

    @property
    def key_name(self) -> str:
        return self.identity.key_name

    @property
    def certificate(self) -> x509.Certificate:
        return self.identity.certificate

    @property
    def certificate_b64(self) -> str:
        return self.identity.certificate_b64

    def check(self, algorithms: SignatureAlgorithms) -> None:
        """Sign a probe on the token and verify it with the certificate: the key and the certificate
        belong together (RSA; raises SigningError)."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        probe = b"gateway start-up probe"
        value = self.backend.sign(probe, self.label)
        public_key = self.certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise SigningError(f"the certificate of {self.label!r} is not an RSA certificate")
        try:
            public_key.verify(value, probe, padding.PKCS1v15(), algorithms.signature_hash())
        except InvalidSignature:
            raise SigningError(f"the key {self.label!r} does not match its certificate "
                               f"(serial {self.key_name})") from None

    def sign_detached(self, data: bytes) -> bytes:
        """RSA PKCS#1 v1.5 / SHA-256 over ``data`` (audit checkpoints, evidence bundles), by the token."""
        sign_sha256 = getattr(self.backend, "sign_rsa_sha256", None)
        if sign_sha256 is None or self.key_type != "rsa":
            raise SigningError(f"the {type(self.backend).__name__} cannot make RSA SHA-256 signatures (audit "
                               "checkpoints, evidence bundles); use the pkcs11 backend with an RSA key, or software keys")
        return sign_sha256(data, self.label)


class Routing:
    """A SignatureBackend: TokenKeys to ``hardware``, KeyMaterials to ``software`` (same key type)."""

    def __init__(self, hardware, software):
        if hardware.key_type != software.key_type:
            raise SigningError(f"{hardware!r} signs {hardware.key_type} keys, the software backend {software.key_type}")
        self.key_type = hardware.key_type
        self.hardware, self.software = hardware, software

    def __repr__(self) -> str:
        return f"Routing({self.hardware!r})"

    def _pick(self, key_ref):
        if isinstance(key_ref, TokenKey):
            return self.hardware, key_ref.label
        if isinstance(key_ref, KeyMaterial):
            return self.software, key_ref
        raise SigningError(f"sign with a TokenKey or a KeyMaterial, not {type(key_ref).__name__}")

    def sign(self, signed_info_c14n: bytes, key_ref) -> bytes:
        backend, ref = self._pick(key_ref)
        return backend.sign(signed_info_c14n, ref)

    def certificate(self, key_ref) -> SignerIdentity:
        if isinstance(key_ref, TokenKey):
            return key_ref.identity
        backend, ref = self._pick(key_ref)
        return backend.certificate(ref)


_opened: dict[tuple, Any] = {}
_lock = threading.Lock()


def open_backend(spec: BackendSpec, algorithms: SignatureAlgorithms):
    """The hardware backend of ``spec`` for ``algorithms``: built once per process and spec, then the
    same object (raises SigningError when the token or bridge cannot be opened)."""
    cache_key = (spec, algorithms.signature_method, spec.pin, spec.password)
    with _lock:
        backend = _opened.get(cache_key)
        if backend is None:
            backend = _opened[cache_key] = _build(spec, algorithms)
        return backend


def _build(spec: BackendSpec, algorithms: SignatureAlgorithms):
    if spec.kind == "pkcs11":
        from .pkcs11 import Pkcs11Backend

        certificates = {spec.key_label: spec.certificate} if spec.certificate is not None and spec.key_label else None
        return Pkcs11Backend(str(spec.module), token_label=str(spec.token), pin=str(spec.pin),
                             algorithms=algorithms, certificates=certificates)
    if spec.kind == "bridge":
        from .bridge import BridgeBackend

        return BridgeBackend(str(spec.url), algorithms=algorithms, password=spec.password,
                             sm2_encoding=spec.sm2_encoding)
    raise SigningError(f"no hardware backend {spec.kind!r} (one of {', '.join(KINDS[1:])})")


def close_all() -> None:
    """Close every backend ``open_backend`` made (tests; a process about to exit)."""
    with _lock:
        for backend in _opened.values():
            backend.close()
        _opened.clear()
