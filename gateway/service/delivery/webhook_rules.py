"""Webhook rules without I/O: event types, the Standard Webhooks signature (standardwebhooks.com),
URL syntax, and what the tenant's delivery log may say about an attempt."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit, urlunsplit

from gateway.ports import PostResult

EVENT_FILING = "filing.state_changed"
EVENT_ORDER = "order.status_changed"
MAX_URL_LENGTH = 2000
EVENT_TYPES = (EVENT_FILING, EVENT_ORDER)
ALL_EVENTS = "*"
SIGNATURE_HEADER = "webhook-signature"
TIMESTAMP_TOLERANCE_SECONDS = 300


# ---- signing (Standard Webhooks) ---------------------------------------------------------------
def _key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret. Secrets issued before the standard's format
    (``whsec_`` + URL-safe text) are used as their UTF-8 bytes."""
    encoded = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return secret.encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def verify_signature(secret: str, body: bytes, headers, now: float | None = None,
                     tolerance: int = TIMESTAMP_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: every header present, the timestamp within ``tolerance`` seconds of
    ``now`` (None: skip the time check), one of the space-separated signatures matching."""
    h = {k.lower(): v for k, v in dict(headers).items()}
    msg_id, stamp, given = h.get("webhook-id"), h.get("webhook-timestamp"), h.get(SIGNATURE_HEADER)
    if not (msg_id and stamp and given) or not stamp.isdigit():
        return False
    if now is not None and abs(now - int(stamp)) > tolerance:
        return False
    expected = sign(secret, msg_id, int(stamp), body).encode()
    return any(hmac.compare_digest(expected, s.encode()) for s in given.split(" "))


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class WebhookInvalid(ValueError):
    pass


class WebhookConflict(ValueError):
    pass


def check_url(url) -> str:
    """Syntax only (the egress policy checks where it points): an absolute http(s) URL without
    credentials; scheme and host in lower case."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookInvalid("url is required")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise WebhookInvalid(f"url longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        _ = parts.port          # raises ValueError for a bad port
    except ValueError:
        raise WebhookInvalid("url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookInvalid("url must be an absolute http:// or https:// URL")
    if parts.username or parts.password or "@" in parts.netloc:
        raise WebhookInvalid("url must not carry credentials")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


def check_events(events) -> str:
    """The stored form of an event-type subscription: "*" (all) or sorted names, comma-separated."""
    if events is None or events == ALL_EVENTS or events == [ALL_EVENTS]:
        return ALL_EVENTS
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise WebhookInvalid(f"events is a non-empty list of event types ({', '.join(EVENT_TYPES)}) or \"*\"")
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise WebhookInvalid(f"unknown event types {', '.join(unknown)} (known: {', '.join(EVENT_TYPES)})")
    return ",".join(sorted(set(events)))


def subscribed(event_types: str, event_type: str) -> bool:
    return event_types == ALL_EVENTS or event_type in event_types.split(",")


def outcome(res: PostResult) -> str | None:
    """What the tenant's delivery log says about one attempt (None: delivered)."""
    if res.status is not None and 200 <= res.status < 300:
        return None
    return f"failed (status {res.status})" if res.status is not None else "unreachable"
