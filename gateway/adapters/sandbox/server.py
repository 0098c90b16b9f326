"""The sandbox government as its own process: one SandboxGovernment behind several faces.

    gateway sandbox serve --http 0 --soap 0 --amqp-url amqp://guest:guest@127.0.0.1:5672//
                          --queue-prefix sbx --files /tmp/dxp --script faults.json

Faces (each in its own module, all sharing this ``SandboxServer``):

- HTTP (http_face.py): E-Port-style POST /messages, GET /messages/<id>, GET /receipts?since=,
  GET /health, and the admin endpoints (POST /admin/faults, /admin/script, GET /admin/received,
  /admin/wire). Always on (port 0 = any free port).
- SOAP (soap_face.py): the bundled WSDL's Submit / GetReceipts / Lookup / Ping, written with lxml.
- AMQP (dxp_faces.py): consumes DxpMsg declarations from ``<prefix>.declarations``, publishes
  DxpMsg receipts to ``<prefix>.receipts``.
- Files (dxp_faces.py): takes DxpMsg files from ``<dir>/OutBox``, writes receipts into ``<dir>/InBox``.

All faces see one receipt feed (``ReceiptFeed``): pulling it releases the next rung of every
pending ladder; transport faults (faults.py) permute and duplicate what it delivers.
When every face is up, one JSON line goes to stdout: {"ready": true, "http": port, "soap": port, ...}.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from gateway.ports import OutgoingMessage, RawReceipt

from .faults import TransportFaults
from .government import SandboxGovernment
from .script import SandboxScript

log = logging.getLogger("gateway.sandbox")

WIRE_LOG_SIZE = 10_000


@dataclass(frozen=True)
class FeedItem:
    cursor: str
    body: bytes
    received_at: datetime

    def to_json(self) -> dict:
        return {"cursor": self.cursor, "receivedAt": self.received_at.isoformat(),
                "body": base64.b64encode(self.body).decode("ascii")}


class ReceiptFeed:
    """Receipts as the faces deliver them: pulled from the government, then (per the transport
    faults) held back one pull and delivered after newer ones, or delivered twice. Each item gets
    the feed's own increasing cursor in delivery order."""

    def __init__(self, government: SandboxGovernment, faults: TransportFaults):
        self.government = government
        self.faults = faults
        self._lock = threading.Lock()
        self._gov_cursor: str | None = None
        self._held: list[RawReceipt] = []
        self._items: list[FeedItem] = []

    def pull(self) -> None:
        with self._lock:
            new = self.government.fetch_receipts(self._gov_cursor)
            if new:
                self._gov_cursor = new[-1].cursor
            if self.faults.out_of_order():
                if new and not self._held:
                    self._held = new            # hold this pull's receipts back ...
                    return
                deliver, self._held = new + self._held, []   # ... and deliver them after the next ones
            else:
                deliver, self._held = self._held + new, []
            copies = 2 if self.faults.duplicates_receipts() else 1
            for raw in deliver:
                for _ in range(copies):
                    self._items.append(FeedItem(f"{len(self._items) + 1:012d}", raw.body, raw.received_at))

    def since(self, cursor: str | None, limit: int = 100) -> list[FeedItem]:
        with self._lock:
            start = 0
            if cursor:
                # cursors are the 1-based position, zero-padded: the next item is at that index
                start = int(cursor) if cursor.isdigit() else len(self._items)
            return self._items[start:start + limit]

    def size(self) -> int:
        with self._lock:
            return len(self._items)


class SandboxServer:
    """What the faces share: the government, the faults, the receipt feed, the wire log."""

    def __init__(self, government: SandboxGovernment, faults: TransportFaults | None = None):
        self.government = government
        self.faults = faults or TransportFaults()
        self.feed = ReceiptFeed(government, self.faults)
        self._lock = threading.Lock()
        self._faces: dict[str, str] = {}      # message id -> face of its first delivery
        self._wire: deque = deque(maxlen=WIRE_LOG_SIZE)
        self.faces: dict[str, object] = {}    # name -> face object (set by the CLI)
        self.last_sender_id: str | None = None

    # -- sending -------------------------------------------------------------------------------

    def receive(self, face: str, message_id: str, message_type: str, body: bytes) -> dict:
        """Hand one message to the government; the face-neutral acknowledgement as a dict."""
        result = self.government.send(OutgoingMessage(message_id, message_type, body))
        if not result.accepted:
            return {"messageId": message_id, "status": "unavailable", "error": result.error or "",
                    "payloadSha256": hashlib.sha256(body).hexdigest()}
        with self._lock:
            self._faces.setdefault(message_id, face)
        ack = self.ack(message_id)
        assert ack is not None, "the government has just accepted it"
        ack["status"] = "duplicate" if result.duplicate else "accepted"
        ack["payloadSha256"] = hashlib.sha256(body).hexdigest()   # of this delivery
        return ack

    def ack(self, message_id: str) -> dict | None:
        """What the government knows of ``message_id`` (its first delivery), or None."""
        result = self.government.lookup(message_id)
        if result is None:
            return None
        first = json.loads(result.response_bytes or b"{}")
        body = self.government.received_bytes(message_id) or b""
        return {"messageId": message_id, "messageType": first.get("messageType", ""), "status": "accepted",
                "deliveries": self.government.deliveries(message_id),
                "firstSha256": hashlib.sha256(body).hexdigest(), "payloadSha256": hashlib.sha256(body).hexdigest(),
                "receivedAt": first.get("receivedAt", ""), "face": self._faces.get(message_id, "")}

    # -- bookkeeping for tests and operators ----------------------------------------------------

    def record_wire(self, face: str, operation: str, message_id: str | None, request: bytes,
                    response: bytes | None, status: str) -> None:
        with self._lock:
            self._wire.append({"face": face, "operation": operation, "messageId": message_id,
                               "requestSha256": hashlib.sha256(request).hexdigest(),
                               "requestBytes": len(request),
                               "responseSha256": None if response is None else hashlib.sha256(response).hexdigest(),
                               "status": status})

    def wire(self) -> list[dict]:
        with self._lock:
            return list(self._wire)

    def received(self) -> dict:
        counts = self.government.received()
        with self._lock:
            faces = dict(self._faces)
        return {message_id: {"deliveries": n, "face": faces.get(message_id, ""),
                             "sha256": hashlib.sha256(self.government.received_bytes(message_id) or b"").hexdigest()}
                for message_id, n in counts.items()}

    def set_script(self, data: dict) -> None:
        script = SandboxScript.from_dict(data)
        with self.government._lock:
            self.government.script = script

    def set_faults(self, data: dict) -> dict:
        self.faults.replace(data)
        for name, face in self.faces.items():
            left, mode = self.faults.downtime(name)
            if left > 0 and mode == "refuse" and hasattr(face, "refuse_for"):
                face.refuse_for(left)
        return self.faults.to_dict()

    def health(self) -> dict:
        data = self.government.health()
        data.update({"adapter": "sandbox-process", "faces": sorted(self.faces), "feed": self.feed.size(),
                     "faults": self.faults.to_dict()})
        for name, face in self.faces.items():
            extra = getattr(face, "health", None)
            if extra is not None:
                data[name] = extra()
        return data
