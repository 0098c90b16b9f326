"""The one place that chooses the key a tenant's document is signed with (docs/signing.md "Which key
signs"). Every signing path calls it: single orders and batches, corrections and reversals, the
agency records, the 179 payment-data upload and replay (with the instant the order was built).

The rule: the tenant's key in force on the signing channel at that instant (key store); the
gateway-wide key only when the tenant has no key there and its delivery channel is a sandbox. On a
production channel a tenant without a key of its own is refused (``KeystoreError``), never signed
with the gateway's (or the throw-away development) key.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .keystore import DEFAULT_CHANNEL, KeyStore, KeystoreError

SANDBOX = "sandbox"


class TenantKeys:
    """``chooser(tenant_id, at=None) -> KeyMaterial``. ``environment_of(tenant_id)`` names the
    environment ("sandbox" or "production") of the tenant's delivery channel."""

    def __init__(self, store: KeyStore, default, channel: str = DEFAULT_CHANNEL, *,
                 environment_of: Callable[[str], str]):
        self.store = store
        self.default = default
        self.channel = channel
        self.environment_of = environment_of

    def __call__(self, tenant_id: str, at: datetime | None = None, *, uow=None):
        """``uow``: read the tenant's keys in the caller's unit of work (order intake: its plan's read
        transaction) rather than in a transaction of their own."""
        key = self.store.key_for(tenant_id, self.channel, at=at, uow=uow)
        if key is not None:
            return key
        environment = self.environment_of(tenant_id)
        if environment != SANDBOX:
            raise KeystoreError(f"tenant {tenant_id} has no signing key on channel {self.channel} and files on a "
                                f"{environment} channel: import its key (gateway keys import); the gateway key "
                                "signs on sandbox channels only")
        return self.default

    def describe(self, tenant_id: str) -> str:
        """What signs this tenant's next document: "tenant key", "gateway key" or "refused: <why>"."""
        try:
            key = self(tenant_id)
        except KeystoreError as exc:
            return f"refused: {exc}"
        return "gateway key" if key is self.default else "tenant key"
