"""``dxp-amqp``: DXP over AMQP (RabbitMQ), with publisher confirms; see the package docstring."""
from __future__ import annotations

from gateway.ports import AdapterError, Clock, LookupUnsupported, OutgoingMessage, RawReceipt, SendResult

from .. import dxpmsg
from .common import AmqpOptions, _DxpBase


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
        import kombu  # here: kombu and amqp load only when a DXP AMQP channel is used

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
        import amqp  # here: loaded only when a DXP AMQP channel is used

        envelope, refused = self._wrapped(message)
        if refused is not None:
            return refused
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
            except TimeoutError:
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
        raise LookupUnsupported("DXP over AMQP has no lookup; resend with the same CopMsgId (the receiver "
                                "deduplicates by it)")

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
                        payload = dxpmsg.inbound(body)
                    except dxpmsg.DxpError as exc:
                        self._quarantine(channel, message, body, str(exc))
                        continue
                    cursor = self._cursors.next(max([since or "", *self._pending]) or None)
                    raw = RawReceipt(cursor=cursor, body=payload, received_at=self.clock.now(),
                                     source=self.name)
                    self._pending[cursor] = (message.delivery_tag, raw)
                    out.append(raw)
                return out
            except Exception as exc:
                self._drop()
                raise AdapterError(f"receipts from {self.options.receipt_queue}: {type(exc).__name__}: {exc}",
                                   retryable=True) from None

    def _quarantine(self, channel, message, body: bytes, reason: str) -> None:
        import amqp  # here: loaded only when a DXP AMQP channel is used

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
