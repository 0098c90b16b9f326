"""The sandbox's DXP faces: AMQP queues and file drop. Both carry DxpMsg envelopes both ways.

AMQP: consumes ``<prefix>.declarations`` (acked after the government took the message), publishes
each receipt as a persistent DxpMsg to ``<prefix>.receipts`` with publisher confirms.
Files: takes ``<dir>/OutBox/*.xml`` (moved to ``<dir>/Sent/``; unreadable ones to ``<dir>/Failed/``),
writes receipts atomically into ``<dir>/InBox/`` (temp file, fsync, rename).

Receipts go out from DXPEDCCEB0000002 to the DXP id of the last sender seen (the sandbox does
not track tenants; one tenant per sandbox is the test set-up).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from gateway.adapters import dxpmsg
from gateway.adapters.dxp import body_bytes
from gateway.adapters.fileio import move, write_atomically
from gateway.ports import SystemClock

from .server import FeedItem, SandboxServer

log = logging.getLogger("gateway.sandbox")

DEFAULT_RECEIVER = "DXPENT0000000000"


def _receipt_envelope(server: SandboxServer, item: FeedItem) -> tuple[str, str, bytes]:
    """(CopMsgId, MsgType, DxpMsg bytes) of one receipt."""
    msg_type = dxpmsg.ceb_root_name(item.body) or "Unknown"
    cop_msg_id = server.government.ids.new_guid()
    envelope = dxpmsg.wrap(item.body, cop_msg_id=cop_msg_id, msg_type=msg_type,
                           sender_id=dxpmsg.IMPORT_RECEIVER,
                           receiver_ids=[server.last_sender_id or DEFAULT_RECEIVER],
                           created=SystemClock().now())
    return cop_msg_id, msg_type, envelope


def _take(server: SandboxServer, face: str, envelope: bytes, twice: bool = False) -> dict:
    env = dxpmsg.unwrap(envelope)
    server.last_sender_id = env.sender_id
    msg_type = env.msg_type or dxpmsg.ceb_root_name(env.data) or ""
    ack = server.receive(face, env.cop_msg_id, msg_type, env.data)
    if twice:
        ack = server.receive(face, env.cop_msg_id, msg_type, env.data)
    server.record_wire(face, "send", env.cop_msg_id, envelope, None, ack["status"])
    return ack


class AmqpFace:
    name = "amqp"

    def __init__(self, server: SandboxServer, url: str, prefix: str, *, poll_interval: float = 0.1,
                 timeout: float = 5.0):
        self.server = server
        self.url = url
        self.declarations = f"{prefix}.declarations"
        self.receipts = f"{prefix}.receipts"
        self.poll_interval = poll_interval
        self.timeout = timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cursor: str | None = None
        self._connected = threading.Event()
        self.published = 0
        self.failed: list[str] = []
        self.last_error = ""

    def start(self, wait: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._run, name="sandbox-amqp", daemon=True)
        self._thread.start()
        if not self._connected.wait(wait):
            raise RuntimeError(f"sandbox AMQP face could not connect to {self.url}: {self.last_error}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def health(self) -> dict:
        return {"connected": self._connected.is_set(), "published": self.published,
                "failed": len(self.failed), "last_error": self.last_error,
                "queues": [self.declarations, self.receipts]}

    def _connect(self):
        import kombu  # here: kombu and amqp load only when a DXP AMQP channel is used

        connection = kombu.Connection(self.url, connect_timeout=self.timeout, heartbeat=0,
                                      transport_options={"confirm_publish": True, "read_timeout": self.timeout,
                                                         "write_timeout": self.timeout})
        connection.connect()
        channel = connection.channel()
        for queue in (self.declarations, self.receipts):
            channel.queue_declare(queue=queue, durable=True, auto_delete=False)
        return connection, channel

    def _run(self) -> None:
        while not self._stop.is_set():
            connection = None
            try:
                connection, channel = self._connect()
                self._connected.set()
                self._loop(channel)
            except Exception as exc:  # keep serving: reconnect after a pause
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("sandbox AMQP face: %s; reconnecting", self.last_error)
                self._stop.wait(0.5)
            finally:
                if connection is not None:
                    try:
                        connection.release()
                    except Exception:
                        pass

    def _loop(self, channel) -> None:
        import amqp  # here: loaded only when a DXP AMQP channel is used

        while not self._stop.is_set():
            left, _ = self.server.faults.downtime(self.name)
            if left > 0:
                self._stop.wait(min(left, self.poll_interval))
                continue
            message = channel.basic_get(queue=self.declarations, no_ack=False)
            if message is not None:
                action = self.server.faults.action(self.name, "send")
                if action.delay:
                    time.sleep(action.delay)
                if action.kind == "drop":
                    raise ConnectionError("scripted connection drop (the message goes back to the queue)")
                if action.kind in ("error_5xx", "down_503"):
                    channel.basic_reject(message.delivery_tag, requeue=True)
                    self._stop.wait(self.poll_interval)
                    continue
                try:
                    _take(self.server, self.name, body_bytes(message), twice=action.kind == "duplicate_answers")
                except dxpmsg.DxpError as exc:
                    self.failed.append(str(exc))
                    log.error("sandbox AMQP face: unreadable declaration dropped: %s", exc)
                channel.basic_ack(message.delivery_tag)
                continue
            self.server.feed.pull()
            for item in self.server.feed.since(self._cursor, 100):
                _, msg_type, envelope = _receipt_envelope(self.server, item)
                channel.basic_publish(amqp.Message(envelope, delivery_mode=2, content_type="text/xml",
                                                   type=msg_type),
                                      exchange="", routing_key=self.receipts, mandatory=True,
                                      confirm_timeout=self.timeout)
                self._cursor = item.cursor
                self.published += 1
            self._stop.wait(self.poll_interval)


class FilesFace:
    name = "files"

    def __init__(self, server: SandboxServer, folder: Path, *, poll_interval: float = 0.1):
        self.server = server
        self.outbox = folder / "OutBox"
        self.inbox = folder / "InBox"
        self.sent = folder / "Sent"
        self.failed_dir = folder / "Failed"
        for path in (self.outbox, self.inbox, self.sent, self.failed_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cursor: str | None = None
        self.written = 0
        self.failed: list[str] = []

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sandbox-files", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def health(self) -> dict:
        return {"outbox": str(self.outbox), "inbox": str(self.inbox), "written": self.written,
                "failed": len(self.failed)}

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._round()
            except Exception:  # keep watching
                log.exception("sandbox files face: round failed")
            self._stop.wait(self.poll_interval)

    def _round(self) -> None:
        left, _ = self.server.faults.downtime(self.name)
        if left > 0:
            return
        files = sorted((p for p in self.outbox.iterdir() if p.is_file() and p.suffix == ".xml"
                        and not p.name.startswith(".")), key=lambda p: (p.stat().st_mtime_ns, p.name))
        for path in files:
            action = self.server.faults.action(self.name, "send")
            if action.delay:
                time.sleep(action.delay)
            if action.kind in ("error_5xx", "down_503", "drop"):
                return                       # leave it there; taken on a later round
            data = path.read_bytes()
            target = move(path, self.sent)
            try:
                _take(self.server, self.name, data, twice=action.kind == "duplicate_answers")
            except dxpmsg.DxpError as exc:
                self.failed.append(f"{path.name}: {exc}")
                move(target, self.failed_dir)
                log.error("sandbox files face: %s is not a readable DxpMsg: %s", path.name, exc)
        self.server.feed.pull()
        for item in self.server.feed.since(self._cursor, 100):
            cop_msg_id, msg_type, envelope = _receipt_envelope(self.server, item)
            write_atomically(self.inbox / f"{item.cursor}_{msg_type}_{cop_msg_id}.xml", envelope)
            self._cursor = item.cursor
            self.written += 1
