"""Webhook secrets at rest (issue 9, item 8): sealed with AES-256-GCM under the key-store master key
(``GATEWAY_KEYSTORE_KEY``, the ``KeyEncryptor`` of gateway/signing/keystore.py), bound to the
webhook's id (associated data), so a sealed value copied to another row does not open.

Stored form: ``enc1:`` + base64 of the key store's blob over one flag byte and the 32 key bytes
(flag 1: a Standard Webhooks secret ``whsec_<base64>``, flag 2: an older ``whsec_<url-safe>``
secret), which keeps it within the 100 characters of ``webhooks.secret``.

Without a master key (the sandbox / development default) secrets are stored as issued, in clear,
and start-up warns. With one, start-up seals every clear secret in place; sealed secrets without
the master key (or with another one) refuse to start: deliveries could not be signed.
"""
from __future__ import annotations

import base64
import binascii
import logging

from sqlalchemy import select

from gateway.signing.keystore import KeyEncryptor, KeystoreError
from gateway.store.models import Webhook

log = logging.getLogger("gateway.webhooks")

SEALED = "enc1:"
_STANDARD, _URLSAFE = b"\x01", b"\x02"


class SecretsError(RuntimeError):
    pass


def _raw(secret: str) -> tuple[bytes, bytes] | None:
    """(flag, 32 key bytes) of a secret this module can seal; None for any other shape."""
    body = secret[len("whsec_"):] if secret.startswith("whsec_") else None
    if body is None:
        return None
    for flag, decode in ((_STANDARD, lambda t: base64.b64decode(t, validate=True)),
                         (_URLSAFE, lambda t: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))):
        try:
            raw = decode(body)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 32 and _text(flag, raw) == secret:
            return flag, raw
    return None


def _text(flag: bytes, raw: bytes) -> str:
    if flag == _STANDARD:
        return "whsec_" + base64.b64encode(raw).decode("ascii")
    return "whsec_" + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


class SecretBox:
    def __init__(self, encryptor: KeyEncryptor | None):
        self.encryptor = encryptor

    @staticmethod
    def _ad(hook_id: str) -> bytes:
        return b"gateway-webhook-secret:" + hook_id.encode("ascii")

    def seal(self, hook_id: str, secret: str) -> str:
        """What to store for ``secret`` (as is without a master key, or for a shape it cannot seal)."""
        parts = _raw(secret)
        if self.encryptor is None or parts is None:
            return secret
        blob = self.encryptor.encrypt(parts[0] + parts[1], self._ad(hook_id))
        return SEALED + base64.b64encode(blob).decode("ascii")

    def open(self, hook_id: str, stored: str) -> str:
        if not stored.startswith(SEALED):
            return stored
        if self.encryptor is None:
            raise SecretsError("webhook secrets are sealed but GATEWAY_KEYSTORE_KEY is not set")
        try:
            plain = self.encryptor.decrypt(base64.b64decode(stored[len(SEALED):]), self._ad(hook_id))
        except (KeystoreError, binascii.Error, ValueError):
            raise SecretsError(f"webhook {hook_id}: the secret does not open (another master key, or the "
                               "row was altered)") from None
        return _text(plain[:1], plain[1:])

    def check_startup(self, uow_factory) -> int:
        """Seal clear secrets when there is a master key (returns how many); refuse (SecretsError)
        when sealed ones cannot be opened; warn when secrets stay in clear."""
        sealed_now = 0
        with uow_factory() as uow:
            hooks = uow.session.scalars(select(Webhook).where(Webhook.deleted_at.is_(None))).all()
            clear = [h for h in hooks if not h.secret.startswith(SEALED)]
            for hook in hooks:
                if hook.secret.startswith(SEALED):
                    self.open(hook.id, hook.secret)           # raises: refuse to start
            if self.encryptor is not None:
                for hook in clear:
                    sealed = self.seal(hook.id, hook.secret)
                    if sealed != hook.secret:
                        hook.secret, sealed_now = sealed, sealed_now + 1
                uow.commit()
        if clear and self.encryptor is None:
            log.warning("%d webhook secret(s) are stored in clear: set GATEWAY_KEYSTORE_KEY (gateway keys "
                        "new-master-key) and restart to seal them", len(clear))
        elif sealed_now:
            log.info("sealed %d webhook secret(s) under the key-store master key", sealed_now)
        return sealed_now
