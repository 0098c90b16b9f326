"""What a send came to (``Outcome``, ``classify``), and the plain records the sender passes between
its claim, send and record steps (sender.py)."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.ports import SendResult


class Outcome(enum.Enum):
    SENT = "sent"
    DUPLICATE = "duplicate"     # already-done: the other side had this message id
    RETRY = "retry"             # transport trouble, nothing arrived: send again later
    UNKNOWN = "unknown"         # may have arrived: look it up before sending again
    BLOCKING = "blocking"       # refused for what it is (schema, business): never resend
    UNROUTABLE = "unroutable"   # the channel cannot carry it (an agency record without a receiver)


def classify(result: SendResult) -> Outcome:
    if getattr(result, "unroutable", False):
        return Outcome.UNROUTABLE
    if result.duplicate:
        return Outcome.DUPLICATE
    if result.accepted:
        return Outcome.SENT
    if getattr(result, "unknown", False):
        return Outcome.UNKNOWN
    if result.retryable:
        return Outcome.RETRY
    return Outcome.BLOCKING


@dataclass(frozen=True)
class Claimed:
    outbox_id: int
    token: str
    tenant_id: str
    order_id: str
    filing_id: str
    guid: str
    message_type: str
    body: bytes
    attempt: int
    was_in_doubt: bool
    agency: str = "customs"


@dataclass(frozen=True)
class Sent:
    """A send's outcome, waiting to be recorded with the rest of its batch."""
    item: Claimed
    outcome: Outcome
    res: SendResult
    looked_up: bool | None
