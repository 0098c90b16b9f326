"""The dxp-amqp adapter over the real RabbitMQ on 127.0.0.1, with the sandbox process consuming the
declaration queue and publishing DxpMsg receipts. Skipped loudly without RabbitMQ (failed on CI)."""
from __future__ import annotations

import time
import uuid

import pytest

from gateway.adapters import dxpmsg, registry
from gateway.adapters.dxp import DxpAmqpAdapter
from gateway.ports import AdapterError, OutgoingMessage, SystemClock, UuidGenerator
from tests.ceb_samples import import_set, signed
from tests.sandbox_process import Ladder, SandboxProcess, delete_queues, free_port, rabbitmq_url, sha

pytestmark = pytest.mark.rabbitmq
__all__ = ["rabbitmq_url"]


@pytest.fixture(scope="module")
def prefix(rabbitmq_url):
    name = f"gwtest-{uuid.uuid4().hex[:10]}"
    yield name
    delete_queues(rabbitmq_url, name)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, rabbitmq_url, prefix):
    with SandboxProcess.start(tmp_path_factory.mktemp("sandbox-amqp"), amqp_url=rabbitmq_url,
                              queue_prefix=prefix) as sbx:
        yield sbx


@pytest.fixture(autouse=True)
def no_faults(sandbox):
    sandbox.faults({})
    yield
    sandbox.faults({})


def adapter(rabbitmq_url, prefix, **options) -> DxpAmqpAdapter:
    return registry.load_adapter("dxp-amqp", {"url": rabbitmq_url, "queue_prefix": prefix, "connect_timeout": 3,
                                              "read_timeout": 5, **options}, clock=SystemClock(), ids=UuidGenerator())


def messages(order_no: str, key) -> list:
    return [signed(root, key) for root in import_set(order_no).in_order()]


def wait_received(sandbox, ids, timeout=15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        received = sandbox.received()
        if all(i in received for i in ids):
            return received
        time.sleep(0.05)
    raise AssertionError(f"the sandbox did not take {ids}: {sandbox.received()}")


def test_the_filing_ladder_completes_over_amqp(sandbox, rabbitmq_url, prefix, signing_key):
    dxp = adapter(rabbitmq_url, prefix)
    try:
        sent = messages("AMQP-LADDER-1", signing_key)
        results = [dxp.send(m) for m in sent]
        assert [(r.accepted, r.retryable, r.unknown) for r in results] == [(True, False, False)] * 4
        for message, result in zip(sent, results, strict=True):
            envelope = dxpmsg.unwrap(result.request_bytes)
            assert envelope.data == message.body                      # Data carries the exact signed bytes
            assert envelope.cop_msg_id == message.message_id
            assert envelope.sender_id == "DXPENT0000458763"            # BaseTransfer/dxpId of the tenant
            assert envelope.receiver_ids == ("DXPEDCCEB0000002",)
            assert envelope.msg_type == message.message_type
            assert envelope.file_name == f"{message.message_type}_{message.message_id}.xml"
        ladder = Ladder(dxp, ["AMQP-LADDER-1"]).run()
        assert ladder.of("AMQP-LADDER-1", "waybill") == ["2", "120"]
        assert ladder.of("AMQP-LADDER-1", "inventory") == ["2", "120", "399", "800"]
        received = wait_received(sandbox, [m.message_id for m in sent])
        assert {m.message_id: received[m.message_id]["deliveries"] for m in sent} == {m.message_id: 1 for m in sent}
        wire = {w["messageId"]: w for w in sandbox.wire() if w["face"] == "amqp"}
        assert all(wire[m.message_id]["requestSha256"] == sha(r.request_bytes) for m, r in zip(sent, results, strict=True))
        health = dxp.health()
        assert health["ok"] is True and health["quarantined"] == 0
    finally:
        dxp.close()


def test_receipts_are_acked_only_after_they_were_handed_over(sandbox, rabbitmq_url, prefix, signing_key):
    import amqp
    import kombu

    first = adapter(rabbitmq_url, prefix)
    body = b'<?xml version="1.0"?><CEB312Message xmlns="http://www.chinaport.gov.cn/ceb" guid="G" version="1.0"/>'
    queue = f"{prefix}.receipts"
    with kombu.Connection(rabbitmq_url, connect_timeout=3) as conn:
        conn.connect()
        channel = conn.channel()
        channel.queue_declare(queue=queue, durable=True, auto_delete=False)
        # a receipt nobody else produced, published straight onto the receipt queue
        channel.basic_publish(amqp.Message(dxpmsg.wrap(
            body, cop_msg_id="HANDOVER-1", msg_type="CEB312Message", sender_id="DXPEDCCEB0000002",
            receiver_ids=["DXPENT0000458763"], created=SystemClock().now()), delivery_mode=2),
            exchange="", routing_key=queue)
    try:
        got = _drain_until(first, body)
        assert got is not None
        first.close()                                               # "crash" before handing it over
        second = adapter(rabbitmq_url, prefix)
        try:
            again = _drain_until(second, body)
            assert again is not None                                # the broker delivered it again
            second.fetch_receipts(again.cursor)                     # handed over: acked now
            second.close()
            third = adapter(rabbitmq_url, prefix)
            try:
                assert all(r.body != body for r in third.fetch_receipts(None))
            finally:
                third.close()
        finally:
            second.close()
    finally:
        first.close()


def _drain_until(dxp, body, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for raw in dxp.fetch_receipts(None):
            if raw.body == body:
                return raw
        time.sleep(0.05)
    return None


def test_a_broken_receipt_is_quarantined_and_the_next_one_still_arrives(sandbox, rabbitmq_url, prefix, signing_key):
    import amqp
    import kombu

    dxp = adapter(rabbitmq_url, prefix)
    good = b'<?xml version="1.0"?><CEB312Message xmlns="http://www.chinaport.gov.cn/ceb" guid="Q" version="1.0"/>'
    with kombu.Connection(rabbitmq_url, connect_timeout=3) as conn:
        conn.connect()
        channel = conn.channel()
        for payload in (b"<not-xml", b"<dxp:DxpMsg xmlns:dxp='http://www.chinaport.gov.cn/dxp' ver='1.0'/>",
                        dxpmsg.wrap(good, cop_msg_id="AFTER-BROKEN", msg_type="CEB312Message",
                                    sender_id="DXPEDCCEB0000002", receiver_ids=["DXPENT0000458763"],
                                    created=SystemClock().now())):
            channel.basic_publish(amqp.Message(payload, delivery_mode=2), exchange="",
                                  routing_key=f"{prefix}.receipts")
    try:
        arrived = _drain_until(dxp, good)
        assert arrived is not None
        health = dxp.health()
        assert health["quarantined"] == 2
        assert {"not well-formed" in q["reason"] or "TransInfo" in q["reason"]
                for q in health["quarantined_recent"]} == {True}
        with kombu.Connection(rabbitmq_url, connect_timeout=3) as conn:
            conn.connect()
            ok = conn.channel().queue_declare(queue=f"{prefix}.receipts.quarantine", durable=True,
                                              auto_delete=False)
            assert ok.message_count == 2
    finally:
        dxp.close()


def test_duplicated_receipts_still_complete_the_ladder(sandbox, rabbitmq_url, prefix, signing_key):
    dxp = adapter(rabbitmq_url, prefix)
    try:
        sandbox.faults({"duplicate_receipts": True})
        assert all(dxp.send(m).accepted for m in messages("AMQP-DUP-1", signing_key))
        ladder = Ladder(dxp, ["AMQP-DUP-1"]).run(settle=1.0)
        assert ladder.of("AMQP-DUP-1", "order") == ["2", "2", "120", "120"]
    finally:
        dxp.close()


def test_a_broker_that_is_not_there_is_retryable_without_doubt():
    dxp = registry.load_adapter("dxp-amqp", {"url": f"amqp://guest:guest@127.0.0.1:{free_port()}//",
                                             "connect_timeout": 1, "read_timeout": 1},
                                clock=SystemClock(), ids=UuidGenerator())
    message = OutgoingMessage("M-1", "CEB311Message",
                              b'<CEB311Message xmlns="http://www.chinaport.gov.cn/ceb"><BaseTransfer>'
                              b"<dxpId>DXPENT0000458763</dxpId></BaseTransfer></CEB311Message>")
    result = dxp.send(message)
    assert (result.accepted, result.retryable, result.unknown) == (False, True, False)
    assert dxp.health()["ok"] is False
    with pytest.raises(AdapterError):
        dxp.fetch_receipts(None)
    with pytest.raises(AdapterError) as caught:
        dxp.lookup("M-1")
    assert caught.value.retryable is False


def test_a_message_without_a_sender_is_refused_before_anything_is_published(rabbitmq_url, prefix):
    dxp = adapter(rabbitmq_url, prefix)
    try:
        result = dxp.send(OutgoingMessage("M-2", "CEB311Message", b"<CEB311Message/>"))
        assert (result.accepted, result.retryable) == (False, False)
        assert "sender_id" in result.error
    finally:
        dxp.close()
