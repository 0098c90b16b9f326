"""Ports: the small interfaces the service layer talks to. Adapters implement them.

Nothing here does I/O. The government side is reached only through an ``Adapter``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    """One signed filing, ready to go. ``body`` is sent byte for byte as stored."""

    message_id: str          # the filing's root guid; the same on every retry
    message_type: str        # root element name, e.g. "CEB621Message"
    body: bytes              # the exact signed bytes


@dataclass(frozen=True)
class SendResult:
    message_id: str
    accepted: bool           # the government side took the message for processing
    duplicate: bool = False  # it already had this message id (already-done)
    retryable: bool = False  # transport trouble: try again later with the same id
    error: str | None = None
    request_bytes: bytes = b""
    response_bytes: bytes = b""
    # The request may have reached the other side but no answer came (a read timeout, a connection
    # dropped after the request was written): an unknown outcome. Look it up (Adapter.lookup)
    # before any resend. Always comes with accepted=False, retryable=True.
    unknown: bool = False
    # The channel cannot carry this message at all (no DXP receiver for an agency record, ...): nothing
    # was sent. An agency record that no channel carries is kept as prepared, not transmitted.
    unroutable: bool = False


@dataclass(frozen=True)
class RawReceipt:
    """A receipt exactly as it came back, before any parsing."""

    cursor: str              # adapter-defined, increasing; pass the last one back to fetch_receipts
    body: bytes
    received_at: datetime
    source: str = ""         # adapter name / channel


class AdapterError(Exception):
    """The adapter could not reach the other side or could not tell (raised by fetch_receipts and
    lookup; send answers with a SendResult instead). ``retryable``: trying later may work."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class LookupUnsupported(AdapterError):
    """The channel has no query (DXP): it cannot tell whether it has a message. A message in doubt
    is then resent with the same message id, which the receiver deduplicates; this is no transport
    failure (it never counts against the circuit breaker)."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class Adapter(Protocol):
    """A government transport. ``lookup`` answers None only when the other side does not have the
    message (a resend is safe); it raises AdapterError when it cannot tell. ``fetch_receipts``
    raises AdapterError on transport trouble. Adapters are found by name through the entry-point
    group ``gateway.adapters`` (gateway/adapters/registry.py)."""

    name: str

    def send(self, message: OutgoingMessage) -> SendResult: ...

    def lookup(self, message_id: str) -> SendResult | None: ...

    def fetch_receipts(self, since: str | None) -> list[RawReceipt]: ...

    def health(self) -> dict: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    def new_guid(self) -> str: ...


@dataclass
class SystemClock:
    tz_offset_hours: int = 8   # China Standard Time: CEB times are local (Beijing) times

    def now(self) -> datetime:
        from datetime import timedelta, timezone

        return datetime.now(timezone(timedelta(hours=self.tz_offset_hours)))


@dataclass
class UuidGenerator:
    def new_guid(self) -> str:
        import uuid

        return str(uuid.uuid4()).upper()


@dataclass
class FixedClock:
    """A clock for tests and replays: returns ``start`` advanced by ``step`` on each call."""

    start: datetime
    step_seconds: float = 0.0
    _calls: int = field(default=0, init=False)

    def now(self) -> datetime:
        from datetime import timedelta

        t = self.start + timedelta(seconds=self.step_seconds * self._calls)
        self._calls += 1
        return t


@dataclass
class SequentialIds:
    """Deterministic upper-case 36-character ids for tests and replays."""

    prefix: str = "00000000-0000-4000-8000"
    _n: int = field(default=0, init=False)

    def new_guid(self) -> str:
        self._n += 1
        return f"{self.prefix}-{self._n:012d}".upper()


# ---- webhooks (delivery) ------------------------------------------------------------------------
@dataclass(frozen=True)
class PostResult:
    """What one webhook POST got back: the HTTP status, or None when no answer came."""

    status: int | None
    error: str | None = None
    body: bytes = b""


class WebhookPoster(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> PostResult: ...
