"""What both DXP transports share: their options, the receipt cursors, the DxpMsg envelope."""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

from gateway.ports import Clock, OutgoingMessage, SendResult

from .. import dxpmsg
from ..options import OptionReader

log = logging.getLogger(__name__)
RECENT = 50


class _Common:
    def __init__(self, r: OptionReader):
        self.sender_id = r.string("sender_id", max_length=16)
        self.receivers = r.mapping("receivers")
        self.default_receiver = r.string("default_receiver", max_length=16)
        self.receipts_limit = r.integer("receipts_limit", default=100, maximum=10_000)


class AmqpOptions(_Common):
    def __init__(self, options: dict):
        r = OptionReader("dxp-amqp", options)
        super().__init__(r)
        self.url = r.url("url", required=True, schemes=("amqp", "amqps", "pyamqp"))
        prefix = r.string("queue_prefix", default="dxp")
        self.declaration_queue = r.string("declaration_queue", default=f"{prefix}.declarations")
        self.receipt_queue = r.string("receipt_queue", default=f"{prefix}.receipts")
        self.quarantine_queue = r.string("quarantine_queue", default=f"{self.receipt_queue}.quarantine")
        self.connect_timeout = r.seconds("connect_timeout", default=5.0)
        self.read_timeout = r.seconds("read_timeout", default=10.0)
        r.done()


class FilesOptions(_Common):
    def __init__(self, options: dict):
        r = OptionReader("dxp-files", options)
        super().__init__(r)
        self.outbox = r.folder("outbox", required=True)
        self.inbox = r.folder("inbox", required=True)
        r.done()


class _Cursors:
    """Increasing cursors (20-digit nanosecond stamps), also across restarts of the gateway."""

    def __init__(self) -> None:
        self._last = 0

    def next(self, since: str | None) -> str:
        floor = int(since) if since and since.isdigit() else 0
        self._last = max(time.time_ns(), self._last + 1, floor + 1)
        return f"{self._last:020d}"


class _DxpBase:
    name = ""

    def __init__(self, options: _Common, clock: Clock):
        self.options = options
        self.clock = clock
        self._lock = threading.RLock()
        self._cursors = _Cursors()
        self.quarantined = 0
        self.quarantined_recent: deque = deque(maxlen=RECENT)

    def envelope(self, message: OutgoingMessage) -> bytes:
        """The DxpMsg for ``message``; raises DxpError when sender or receiver cannot be told."""
        body = bytes(message.body)
        sender = dxpmsg.transfer_dxp_id(body) or self.options.sender_id
        if not sender:
            raise dxpmsg.DxpError("no sender DXP id: the message has no BaseTransfer/dxpId and the option "
                                  "sender_id is not set")
        receiver = (self.options.receivers.get(message.message_type) or dxpmsg.default_receiver(message.message_type)
                    or self.options.default_receiver)
        if not receiver:
            raise dxpmsg.DxpError(f"no DXP receiver for {message.message_type}: set the option receivers or "
                                  "default_receiver")
        return dxpmsg.wrap(body, cop_msg_id=message.message_id, msg_type=message.message_type, sender_id=sender,
                           receiver_ids=[receiver], created=self.clock.now())

    def _wrapped(self, message: OutgoingMessage) -> tuple[bytes, SendResult | None]:
        """(the DxpMsg, None), or (b"", the refusal to return) when it cannot be built (never retried)."""
        try:
            return self.envelope(message), None
        except dxpmsg.DxpError as exc:      # no sender / receiver for it: this channel cannot carry it
            return b"", SendResult(message.message_id, accepted=False, retryable=False, error=str(exc),
                                   request_bytes=bytes(message.body), unroutable=True)

    def _quarantine_note(self, what: str, reason: str) -> None:
        self.quarantined += 1
        self.quarantined_recent.append({"what": what, "reason": reason, "at": self.clock.now().isoformat()})
        log.error("%s: receipt %s quarantined: %s", self.name, what, reason)
