"""What the sandbox government keeps of each message it received: the message (``Submission``) and
its entities on their status ladders (``Track``), with the small helpers ``government.py`` shares."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from gateway.ports import SendResult

from . import ladder
from .documents import Filing
from .ladder import Climbing
from .receipts import CHINA_TZ

# The business fields each receipt repeats, in schema order (before returnStatus).
IDENTITY = {
    "CEB312Message": ("ebpCode", "ebcCode", "orderNo"),
    "CEB412Message": ("payCode", "payTransactionId"),
    "CEB512Message": ("logisticsCode", "logisticsNo"),
    "CEB622Message": ("customsCode", "ebpCode", "ebcCode", "agentCode", "copNo"),
}


@dataclass
class Track(Climbing):
    """One entity of a received message on its way up its ladder."""

    filing: Filing
    rungs: list[ladder.Rung]
    released: int = 0
    pre_no: str | None = None
    invt_no: str | None = None
    sum_no: str | None = None         # export summary application (CEB701)
    released_at: datetime | None = None   # when the 800 rung went out (returns count from it)
    mark: str | None = None           # an inventory cancelled / returned by a reversal (corrections.py)
    target: Track | None = None    # a correction's or reversal's document / inventory


@dataclass
class Submission:
    message_id: str
    message_type: str                 # root name, or "Unknown"
    body: bytes
    result: SendResult
    tracks: list[Track] = field(default_factory=list)
    format_error: str | None = None   # CEB900 returnInfo, while not yet released
    deliveries: int = 1


def is_pending(submission: Submission) -> bool:
    return submission.format_error is not None or any(track.pending for track in submission.tracks)


def has_signature(root) -> bool:
    return root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None


def china(moment: datetime) -> datetime:
    return moment.astimezone(CHINA_TZ) if moment.tzinfo is not None else moment


def ack(submission: Submission, status: str, at: datetime | None = None) -> bytes:
    """The synchronous answer of the sandbox transport (kept as SendResult.response_bytes)."""
    data = {"messageId": submission.message_id, "messageType": submission.message_type, "status": status,
            "deliveries": submission.deliveries}
    if at is not None:
        data["receivedAt"] = at.isoformat()
    return json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
