"""What stays of purged bytes: a short marker that names the sha256 of what was there.

Retention (``gateway audit purge``) replaces a filing's signed bytes, a raw receipt or an order
body by a tombstone; the audit chain keeps the records that name the original sha256, and a
``*.purged`` record says when and by which policy the bytes went. Verifiers recognise a tombstone
and check that its sha256 is the one the chain recorded. Pure.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from .chain import canonical_json

MAGIC = b"GATEWAY-PURGED/1\n"


@dataclass(frozen=True)
class Tombstone:
    sha256: str          # of the bytes that were purged
    size: int
    purged_at: str       # UTC, gateway.audit.chain.format_at
    reason: str          # e.g. "retention: received before 2021-11-22"
    bundle: str          # file name of the evidence bundle exported before purging

    def to_bytes(self) -> bytes:
        return MAGIC + canonical_json({"sha256": self.sha256, "size": self.size, "purged_at": self.purged_at,
                                       "reason": self.reason, "bundle": self.bundle})

    def to_text(self) -> str:
        return self.to_bytes().decode("utf-8")


def is_tombstone(data: bytes | str | None) -> bool:
    if data is None:
        return False
    if isinstance(data, str):
        return data.startswith(MAGIC.decode("ascii"))
    return bytes(data[:len(MAGIC)]) == MAGIC


def read_tombstone(data: bytes | str) -> Tombstone:
    """Parse a tombstone; ValueError if ``data`` is not one."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if not raw.startswith(MAGIC):
        raise ValueError("not a tombstone")
    try:
        d = json.loads(raw[len(MAGIC):].decode("utf-8"))
        return Tombstone(sha256=d["sha256"], size=int(d["size"]), purged_at=d["purged_at"], reason=d["reason"],
                         bundle=d["bundle"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"damaged tombstone: {exc}") from None
