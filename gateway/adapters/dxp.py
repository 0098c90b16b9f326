"""Entry points ``dxp-amqp`` and ``dxp-files``: the DXP terminal-node transport (ceb-messages.md §10).

Every message goes out wrapped in a DxpMsg (gateway/adapters/dxpmsg.py): CopMsgId = our message id,
SenderId = the tenant's DXP id (BaseTransfer/dxpId of the signed message; option ``sender_id``
when the message has none), ReceiverId = DXPEDCCEB0000002 (import) / DXPEDCCEB0000003 (export),
MsgType = the root name, Data = base64 of the exact signed bytes, AddInfo/FileName =
``<MsgType>_<CopMsgId>.xml``. Receipts come back wrapped the same way; ``Data`` is unwrapped.

Hand-over: a receipt is acknowledged (AMQP ack / file moved to processed/) only once the caller
passes a cursor at or past it back to ``fetch_receipts`` — the dispatcher stores the cursor only
after it stored the receipts — so a crash in between loses nothing (it comes again; duplicates
are normal downstream). Unreadable receipts are quarantined (AMQP: republished to the quarantine
queue, then acked; files: moved to quarantine/), logged with logging.error, counted in health(),
and never block the ones behind them.

DXP has no query: ``lookup`` raises AdapterError(retryable=False) for AMQP; for files it finds a
message still waiting in the OutBox. A resend keeps the CopMsgId, which the receiver deduplicates.

Options, both::

    {"sender_id": "DXPENT0000458763",          used when a message has no BaseTransfer/dxpId
     "receivers": {"CEB311Message": "..."},    per message type, overriding the import/export default
     "default_receiver": "DXPEDC...",          for message types that are neither import nor export CEB
     "receipts_limit": 100}

``dxp-amqp``::

    {"url": "amqp://guest:guest@127.0.0.1:5672//",            required
     "queue_prefix": "dxp",                                    queues <prefix>.declarations / .receipts
     "declaration_queue": "...", "receipt_queue": "...",      or name them one by one
     "quarantine_queue": "...",                                default <receipt_queue>.quarantine
     "connect_timeout": 5, "read_timeout": 10}                 socket reads/writes and publisher confirms

``dxp-files``::

    {"outbox": "/dxp/OutBox", "inbox": "/dxp/InBox"}          required; processed/ and quarantine/
                                                               are made inside the inbox
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from pathlib import Path

from gateway.ports import AdapterError, Clock, IdGenerator, OutgoingMessage, RawReceipt, SendResult

from . import dxpmsg
from .fileio import move, write_atomically
from .options import OptionReader

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

    def _quarantine_note(self, what: str, reason: str) -> None:
        self.quarantined += 1
        self.quarantined_recent.append({"what": what, "reason": reason, "at": self.clock.now().isoformat()})
        log.error("%s: receipt %s quarantined: %s", self.name, what, reason)


# ---- AMQP ---------------------------------------------------------------------------------------

class DxpAmqpAdapter(_DxpBase):
    name = "dxp-amqp"

    def __init__(self, options: AmqpOptions, clock: Clock):
        super().__init__(options, clock)
        self.options: AmqpOptions = options
        self._connection = None
        self._channel = None
        self._pending: dict[str, tuple[int, RawReceipt]] = {}   # cursor -> (delivery tag, receipt)

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _ensure(self):
        if self._channel is not None:
            return self._channel
        import kombu

        o = self.options
        connection = kombu.Connection(o.url, connect_timeout=o.connect_timeout, heartbeat=0,
                                      transport_options={"confirm_publish": True, "read_timeout": o.read_timeout,
                                                         "write_timeout": o.read_timeout})
        try:
            connection.connect()
            channel = connection.channel()
            for queue in (o.declaration_queue, o.receipt_queue, o.quarantine_queue):
                channel.queue_declare(queue=queue, durable=True, auto_delete=False)
        except BaseException:
            _release(connection)
            raise
        self._connection, self._channel = connection, channel
        return channel

    def _drop(self) -> None:
        """Forget the connection: unacked receipts go back to the queue (the broker redelivers them)."""
        connection, self._connection, self._channel = self._connection, None, None
        self._pending.clear()
        if connection is not None:
            _release(connection)

    def send(self, message: OutgoingMessage) -> SendResult:
        import amqp

        try:
            envelope = self.envelope(message)
        except dxpmsg.DxpError as exc:
            return SendResult(message.message_id, accepted=False, retryable=False, error=str(exc),
                              request_bytes=bytes(message.body))
        with self._lock:
            try:
                channel = self._ensure()
            except Exception as exc:
                self._drop()
                return SendResult(message.message_id, accepted=False, retryable=True, request_bytes=envelope,
                                  error=f"cannot connect to the broker: {type(exc).__name__}: {exc}")
            try:
                channel.basic_publish(
                    amqp.Message(envelope, delivery_mode=2, content_type="text/xml",
                                 message_id=message.message_id, type=message.message_type),
                    exchange="", routing_key=self.options.declaration_queue, mandatory=True,
                    confirm_timeout=self.options.read_timeout)
            except amqp.exceptions.MessageNacked:
                return SendResult(message.message_id, accepted=False, retryable=True, request_bytes=envelope,
                                  error="the broker refused the message (publisher nack)")
            except (socket.timeout, TimeoutError):
                self._drop()
                return SendResult(message.message_id, accepted=False, retryable=True, unknown=True,
                                  request_bytes=envelope,
                                  error=f"no publisher confirm within {self.options.read_timeout} s "
                                        "(the message may be queued)")
            except Exception as exc:
                self._drop()
                return SendResult(message.message_id, accepted=False, retryable=True, unknown=True,
                                  request_bytes=envelope,
                                  error=f"connection lost while publishing: {type(exc).__name__}: {exc}")
        return SendResult(message.message_id, accepted=True, request_bytes=envelope)

    def lookup(self, message_id: str) -> SendResult | None:
        raise AdapterError("DXP over AMQP has no lookup; resend with the same CopMsgId (the receiver "
                           "deduplicates by it)", retryable=False)

    def fetch_receipts(self, since: str | None) -> list[RawReceipt]:
        with self._lock:
            try:
                channel = self._ensure()
                for cursor in sorted(self._pending):
                    if since and cursor <= since:          # handed over: the caller has stored them
                        tag, _ = self._pending.pop(cursor)
                        channel.basic_ack(tag)
                out = [raw for cursor, (_, raw) in sorted(self._pending.items()) if not since or cursor > since]
                while len(out) < self.options.receipts_limit:
                    message = channel.basic_get(queue=self.options.receipt_queue, no_ack=False)
                    if message is None:
                        break
                    body = body_bytes(message)
                    try:
                        envelope = dxpmsg.unwrap(body)
                    except dxpmsg.DxpError as exc:
                        self._quarantine(channel, message, body, str(exc))
                        continue
                    cursor = self._cursors.next(max([since or "", *self._pending]) or None)
                    raw = RawReceipt(cursor=cursor, body=envelope.data, received_at=self.clock.now(),
                                     source=self.name)
                    self._pending[cursor] = (message.delivery_tag, raw)
                    out.append(raw)
                return out
            except Exception as exc:
                self._drop()
                raise AdapterError(f"receipts from {self.options.receipt_queue}: {type(exc).__name__}: {exc}",
                                   retryable=True) from None

    def _quarantine(self, channel, message, body: bytes, reason: str) -> None:
        import amqp

        channel.basic_publish(amqp.Message(body, delivery_mode=2, content_type="application/octet-stream",
                                           application_headers={"x-quarantine-reason": reason[:500]}),
                              exchange="", routing_key=self.options.quarantine_queue, mandatory=True,
                              confirm_timeout=self.options.read_timeout)
        channel.basic_ack(message.delivery_tag)
        self._quarantine_note(f"message {message.delivery_tag} -> {self.options.quarantine_queue}", reason)

    def health(self) -> dict:
        info = {"adapter": self.name, "queues": {"declarations": self.options.declaration_queue,
                                                 "receipts": self.options.receipt_queue,
                                                 "quarantine": self.options.quarantine_queue},
                "quarantined": self.quarantined, "quarantined_recent": list(self.quarantined_recent)}
        with self._lock:
            try:
                channel = self._ensure()
                declared = channel.queue_declare(queue=self.options.receipt_queue, durable=True, auto_delete=False)
                waiting = declared.message_count
            except Exception as exc:
                self._drop()
                return {**info, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
            return {**info, "ok": True, "receipts_waiting": waiting, "receipts_unconfirmed": len(self._pending)}


def body_bytes(message) -> bytes:
    """The body as bytes. py-amqp decodes a body that declares a content_encoding; encoding it
    again with that encoding gives back the bytes that were sent."""
    body = message.body
    if isinstance(body, str):
        return body.encode(message.properties.get("content_encoding") or "utf-8")
    return bytes(body)


def _release(connection) -> None:
    try:
        connection.release()
    except Exception:
        pass


# ---- files --------------------------------------------------------------------------------------

class DxpFilesAdapter(_DxpBase):
    name = "dxp-files"

    def __init__(self, options: FilesOptions, clock: Clock):
        super().__init__(options, clock)
        self.options: FilesOptions = options
        self.outbox = Path(options.outbox)
        self.inbox = Path(options.inbox)
        self.processed = self.inbox / "processed"
        self.quarantine = self.inbox / "quarantine"
        for folder in (self.outbox, self.inbox, self.processed, self.quarantine):
            folder.mkdir(parents=True, exist_ok=True)
        self._pending: dict[str, tuple[Path, RawReceipt]] = {}   # cursor -> (file, receipt)

    def close(self) -> None:
        pass

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            envelope = self.envelope(message)
        except dxpmsg.DxpError as exc:
            return SendResult(message.message_id, accepted=False, retryable=False, error=str(exc),
                              request_bytes=bytes(message.body))
        path = self.outbox / dxpmsg.file_name(message.message_type, message.message_id)
        try:
            write_atomically(path, envelope)
        except OSError as exc:
            return SendResult(message.message_id, accepted=False, retryable=True, request_bytes=envelope,
                              error=f"cannot write {path}: {exc}")
        return SendResult(message.message_id, accepted=True, request_bytes=envelope)

    def lookup(self, message_id: str) -> SendResult | None:
        for path in self.outbox.glob(f"*_{message_id}.xml"):
            try:
                return SendResult(message_id, accepted=True, request_bytes=path.read_bytes())
            except OSError:
                break          # taken by the DXP client meanwhile
        raise AdapterError(f"{message_id} is not waiting in {self.outbox}: taken by the DXP client or never "
                           "written; DXP has no query (a resend keeps the CopMsgId)", retryable=False)

    def fetch_receipts(self, since: str | None) -> list[RawReceipt]:
        with self._lock:
            for cursor in sorted(self._pending):
                if since and cursor <= since:
                    path, _ = self._pending.pop(cursor)
                    try:
                        move(path, self.processed)
                    except FileNotFoundError:
                        pass
            out = [raw for cursor, (_, raw) in sorted(self._pending.items()) if not since or cursor > since]
            held = {path for path, _ in self._pending.values()}
            try:
                candidates = [p for p in self.inbox.iterdir()
                              if p.is_file() and not p.name.startswith(".") and p not in held]
                candidates.sort(key=_arrival)
            except OSError as exc:
                raise AdapterError(f"cannot read {self.inbox}: {exc}", retryable=True) from None
            for path in candidates:
                if len(out) >= self.options.receipts_limit:
                    break
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    self._to_quarantine(path, f"unreadable file: {exc}")
                    continue
                if path.suffix.lower() != ".xml":
                    self._to_quarantine(path, "not a .xml file")
                    continue
                try:
                    envelope = dxpmsg.unwrap(data)
                except dxpmsg.DxpError as exc:
                    self._to_quarantine(path, str(exc))
                    continue
                cursor = self._cursors.next(max([since or "", *self._pending]) or None)
                raw = RawReceipt(cursor=cursor, body=envelope.data, received_at=self.clock.now(), source=self.name)
                self._pending[cursor] = (path, raw)
                out.append(raw)
            return out

    def _to_quarantine(self, path: Path, reason: str) -> None:
        try:
            target = move(path, self.quarantine)
        except OSError as exc:
            reason = f"{reason}; could not be moved: {exc}"
            target = path
        self._quarantine_note(str(target), reason)

    def health(self) -> dict:
        info = {"adapter": self.name, "outbox": str(self.outbox), "inbox": str(self.inbox),
                "quarantined": self.quarantined, "quarantined_recent": list(self.quarantined_recent)}
        problems = [f"{folder} is missing or not writable" for folder in (self.outbox, self.inbox)
                    if not folder.is_dir() or not _writable(folder)]
        try:
            waiting_out = sum(1 for p in self.outbox.iterdir() if p.is_file() and not p.name.startswith("."))
            waiting_in = sum(1 for p in self.inbox.iterdir() if p.is_file() and not p.name.startswith("."))
            in_quarantine = sum(1 for p in self.quarantine.iterdir() if p.is_file())
        except OSError as exc:
            problems.append(str(exc))
            waiting_out = waiting_in = in_quarantine = None
        return {**info, "ok": not problems, "problems": problems, "outbox_waiting": waiting_out,
                "inbox_waiting": waiting_in, "quarantine_files": in_quarantine}


def _arrival(path: Path) -> tuple[int, str]:
    try:
        return (path.stat().st_mtime_ns, path.name)
    except OSError:
        return (0, path.name)


def _writable(folder: Path) -> bool:
    import os

    return os.access(folder, os.W_OK | os.X_OK)


# ---- entry points -------------------------------------------------------------------------------

def create_amqp(options: dict, *, clock: Clock, ids: IdGenerator) -> DxpAmqpAdapter:
    return DxpAmqpAdapter(AmqpOptions(options), clock)


def create_files(options: dict, *, clock: Clock, ids: IdGenerator) -> DxpFilesAdapter:
    return DxpFilesAdapter(FilesOptions(options), clock)


def _check_amqp(options: dict) -> None:
    AmqpOptions(options)


def _check_files(options: dict) -> None:
    FilesOptions(options)


create_amqp.check_options = _check_amqp
create_files.check_options = _check_files
