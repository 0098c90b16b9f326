"""PKCS#11 backend: the private key stays on a token (UKey, smart card, HSM); only the bytes to
sign go in and the signature comes out.

    backend = Pkcs11Backend("/usr/lib/softhsm/libsofthsm2.so", token_label="ceb", pin=os.environ["PIN"],
                            algorithms=RSA_SHA256)
    signer = XmlSigner(RSA_SHA256, backend=backend)
    signed = signer.sign(root, "tenant-a-2026")         # key_ref = the key's CKA_LABEL on the token

The module is loaded and the session opened (and logged in) once; each signature is one C_Sign
call with CKM_SHA256_RSA_PKCS (or CKM_SHA1_RSA_PKCS for rsa-sha1). A session the token dropped
(removed and re-inserted UKey, HSM restart) is reopened once and the call retried. The certificate
for ds:KeyInfo is the token's certificate object with the same label, or one passed in.

A process forked after the session was opened (gunicorn workers, dispatcher processes) must not
use its parent's session: on first use in the child the module is initialised again (C_Finalize,
C_Initialize) and a session of its own opened and logged in.

Tested against SoftHSM2. SM2 on tokens uses vendor-defined mechanisms (no standard CKM for
SM2-with-SM3 in PKCS#11 2.40); pass ``mechanism=`` and ``key_type="sm2"`` for such a token, untested here.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from cryptography import x509

from .algorithms import RSA_SHA1_URI, RSA_SHA256_URI, SignatureAlgorithms, SigningError, UnsupportedAlgorithm
from .keys import SignerIdentity

if TYPE_CHECKING:   # python-pkcs11 itself is imported when a backend is built
    from pkcs11 import Session

log = logging.getLogger(__name__)


class TokenProblem(SigningError):
    """The module, token, PIN or key is wrong: ``part`` says which ("module", "token", "pin", "key")."""

    def __init__(self, message: str, part: str):
        super().__init__(message)
        self.part = part


class Pkcs11Backend:
    def __init__(self, module: str, *, token_label: str, pin: str, algorithms: SignatureAlgorithms,
                 certificates: dict[str, x509.Certificate] | None = None, mechanism=None, key_type: str = "rsa"):
        try:
            import pkcs11
        except ImportError as e:  # pragma: no cover - a declared dependency
            raise SigningError("the PKCS#11 backend needs python-pkcs11") from e
        self._pkcs11 = pkcs11
        if mechanism is None:
            mechanisms = {RSA_SHA256_URI: pkcs11.Mechanism.SHA256_RSA_PKCS, RSA_SHA1_URI: pkcs11.Mechanism.SHA1_RSA_PKCS}
            if algorithms.signature_method not in mechanisms:
                raise UnsupportedAlgorithm(f"no standard PKCS#11 mechanism for {algorithms.signature_method}; "
                                           "pass the token vendor's mechanism")
            mechanism = mechanisms[algorithms.signature_method]
        self.key_type = key_type
        self.mechanism = mechanism
        self._module, self._token_label, self._pin = module, token_label, pin
        self._certificates = dict(certificates or {})
        self._lock = threading.RLock()
        self._keys: dict[str, object] = {}
        self._identities: dict[str, SignerIdentity] = {}
        try:
            self._lib = pkcs11.lib(module)
        except Exception as e:
            raise TokenProblem(f"cannot load the PKCS#11 module {module}: {e}", "module") from None
        self._session: Session | None = None
        self._pid = os.getpid()
        self._open()

    def __repr__(self) -> str:   # never shows the PIN
        return f"Pkcs11Backend(module={self._module!r}, token={self._token_label!r})"

    def _open(self) -> Session:
        try:
            token = self._lib.get_token(token_label=self._token_label)
            try:
                session = token.open(user_pin=self._pin)
            except self._pkcs11.exceptions.UserAlreadyLoggedIn:
                # PKCS#11 logs in per application and token: another session of this process
                # already did, and a new session shares that login.
                session = token.open()
        except self._pkcs11.exceptions.PinIncorrect:
            raise TokenProblem(f"PKCS#11 token {self._token_label!r}: wrong PIN", "pin") from None
        except self._pkcs11.exceptions.NoSuchToken:
            raise TokenProblem(f"PKCS#11 token {self._token_label!r} not found in {self._module}", "token") from None
        except self._pkcs11.exceptions.PKCS11Error as e:
            raise SigningError(f"cannot open PKCS#11 token {self._token_label!r}: {type(e).__name__} {e}") from None
        self._session = session
        self._keys.clear()
        return session

    def _live_session(self) -> Session:
        """The open session, or a new one if the token dropped it or the process was forked (call
        with the lock held)."""
        self._after_fork()
        return self._session if self._session is not None else self._open()

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's session and initialise the module again."""
        if self._pid == os.getpid():
            return
        self._lock = threading.RLock()        # the parent's may have been held by another thread
        self._session = None
        self._keys.clear()
        try:
            self._lib.reinitialize()          # PKCS#11: a child calls C_Initialize itself
        except self._pkcs11.exceptions.PKCS11Error:
            try:
                self._lib.initialize()
            except self._pkcs11.exceptions.PKCS11Error as e:
                raise SigningError(f"PKCS#11 module {self._module}: cannot initialise it again after fork: "
                                   f"{type(e).__name__}") from None
        self._pid = os.getpid()
        log.info("PKCS#11 token %r: reopened in process %d (forked)", self._token_label, self._pid)

    def close(self) -> None:
        if self._pid != os.getpid():          # a forked child: the session is the parent's
            self._session = None
            return
        with self._lock:
            if self._session is not None:
                try:
                    self._session.close()
                finally:
                    self._session = None

    def _key(self, label: str):
        key = self._keys.get(label)
        if key is None:
            pkcs11 = self._pkcs11
            try:
                key = self._live_session().get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=label)
            except pkcs11.exceptions.NoSuchKey:
                raise TokenProblem(f"no private key labelled {label!r} on token {self._token_label!r}", "key") from None
            except pkcs11.exceptions.MultipleObjectsReturned:
                raise TokenProblem(f"several private keys labelled {label!r} on token {self._token_label!r}", "key") from None
            self._keys[label] = key
        return key

    def sign(self, signed_info_c14n: bytes, key_ref: str) -> bytes:
        return self._sign(signed_info_c14n, key_ref, self.mechanism)

    def sign_rsa_sha256(self, data: bytes, key_ref: str) -> bytes:
        """RSA PKCS#1 v1.5 / SHA-256 over ``data`` whatever the XML algorithm (audit checkpoints)."""
        if self.key_type != "rsa":
            raise UnsupportedAlgorithm("RSA SHA-256 signatures need an RSA key on the token")
        return self._sign(data, key_ref, self._pkcs11.Mechanism.SHA256_RSA_PKCS)

    def _sign(self, data: bytes, key_ref: str, mechanism) -> bytes:
        if not isinstance(key_ref, str):
            raise SigningError(f"the PKCS#11 backend takes the key label as key_ref, not {type(key_ref).__name__}")
        errors = self._pkcs11.exceptions
        self._after_fork()
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._session is None:
                        self._open()
                    return bytes(self._key(key_ref).sign(data, mechanism=mechanism))
                except (errors.SessionClosed, errors.SessionHandleInvalid, errors.DeviceRemoved,
                        errors.TokenNotPresent, errors.DeviceError) as e:
                    log.error("PKCS#11 token %r: %s (attempt %d); reopening the session",
                              self._token_label, type(e).__name__, attempt)
                    self._session = None
                    if attempt == 2:
                        raise SigningError(f"PKCS#11 token {self._token_label!r} is not available: "
                                           f"{type(e).__name__}") from None
                except errors.PKCS11Error as e:
                    raise SigningError(f"PKCS#11 signing with {key_ref!r} failed: {type(e).__name__} {e}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def certificate(self, key_ref: str) -> SignerIdentity:
        identity = self._identities.get(key_ref)
        if identity is not None:
            return identity
        certificate = self._certificates.get(key_ref)
        if certificate is None:
            pkcs11 = self._pkcs11
            with self._lock:
                found = list(self._live_session().get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
                                                        pkcs11.Attribute.LABEL: key_ref}))
            if len(found) != 1:
                raise TokenProblem(f"token {self._token_label!r} has {len(found)} certificates labelled {key_ref!r}; "
                                   "give its certificate (GATEWAY_PKCS11_CERT, Pkcs11Backend(certificates=...))", "key")
            certificate = x509.load_der_x509_certificate(bytes(found[0][pkcs11.Attribute.VALUE]))
        identity = self._identities[key_ref] = SignerIdentity.of(certificate)
        return identity

    def health(self) -> dict:
        with self._lock:
            try:
                info = self._live_session().token.label
                return {"backend": "pkcs11", "ok": True, "token": info}
            except SigningError as e:
                log.error("PKCS#11 token %r unhealthy: %s", self._token_label, e)
                return {"backend": "pkcs11", "ok": False, "token": self._token_label, "error": str(e)}
