"""The soap adapter (zeep, bundled WSDL) against the sandbox's SOAP face in a separate process."""
from __future__ import annotations

import time

import pytest
from lxml import etree

from gateway.adapters import registry
from gateway.adapters.options import AdapterConfigError
from gateway.adapters.soap import BUNDLED_WSDL, SoapAdapter, SoapOptions
from gateway.ports import AdapterError, OutgoingMessage, SystemClock, UuidGenerator
from tests.ceb_samples import import_set, signed
from tests.sandbox_process import Ladder, SandboxProcess, free_port, sha

TNS = "urn:gateway:sandbox:soap:v1"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with SandboxProcess.start(tmp_path_factory.mktemp("sandbox-soap"), soap=True) as sbx:
        yield sbx


@pytest.fixture(autouse=True)
def no_faults(sandbox):
    sandbox.faults({})
    sandbox.script({})
    yield
    sandbox.faults({})


def adapter(sandbox, **options) -> SoapAdapter:
    return registry.load_adapter("soap", {"endpoint": f"{sandbox.url('soap')}/soap", "connect_timeout": 2,
                                          "read_timeout": 5, **options}, clock=SystemClock(), ids=UuidGenerator())


def messages(order_no: str, key) -> list:
    return [signed(root, key) for root in import_set(order_no).in_order()]


def ack_of(response_bytes: bytes) -> dict:
    root = etree.fromstring(response_bytes)
    ack = root.find(f".//{{{TNS}}}ack")
    return {etree.QName(child).localname: child.text for child in ack}


def test_the_filing_ladder_completes_over_soap(sandbox, signing_key):
    soap = adapter(sandbox)
    sent = messages("SOAP-LADDER-1", signing_key)
    results = [soap.send(m) for m in sent]
    assert [(r.accepted, r.duplicate, r.retryable, r.unknown) for r in results] == [(True, False, False, False)] * 4
    for message, result in zip(sent, results, strict=True):
        ack = ack_of(result.response_bytes)
        assert ack["messageId"] == message.message_id and ack["status"] == "accepted"
        assert ack["payloadSha256"] == sha(message.body)          # the signed bytes arrived unchanged
        assert ack["envelopeSha256"] == sha(result.request_bytes)  # the recorded envelope is what was sent
        assert result.request_bytes.startswith(b"<?xml") and b"Submit" in result.request_bytes
    ladder = Ladder(soap, ["SOAP-LADDER-1"]).run()
    assert ladder.of("SOAP-LADDER-1", "payment") == ["2", "120"]
    assert ladder.of("SOAP-LADDER-1", "inventory") == ["2", "120", "399", "800"]
    received = sandbox.received()
    assert {m.message_id: received[m.message_id]["deliveries"] for m in sent} == {m.message_id: 1 for m in sent}
    assert soap.health()["ok"] is True


def test_recorded_envelopes_are_what_went_over_the_wire(sandbox, signing_key):
    soap = adapter(sandbox)
    message = messages("SOAP-WIRE-1", signing_key)[0]
    result = soap.send(message)
    entry = [w for w in sandbox.wire() if w["face"] == "soap" and w["messageId"] == message.message_id][-1]
    assert entry["requestSha256"] == sha(result.request_bytes)
    assert entry["responseSha256"] == sha(result.response_bytes)


def test_5xx_is_retryable(sandbox, signing_key):
    soap = adapter(sandbox)
    message = messages("SOAP-5XX-1", signing_key)[0]
    sandbox.faults({"error_5xx": {"times": 1, "status": 503}})
    result = soap.send(message)
    assert (result.accepted, result.retryable, result.unknown) == (False, True, False)
    assert "503" in result.error
    assert soap.lookup(message.message_id) is None
    assert soap.send(message).accepted


def test_a_server_fault_is_retryable_and_a_client_fault_is_not(sandbox, signing_key):
    soap = adapter(sandbox)
    message = messages("SOAP-FAULT-1", signing_key)[0]
    sandbox.script({"transport_error": 1})                         # the government itself is unavailable
    result = soap.send(message)
    assert (result.accepted, result.retryable) == (False, True)
    assert "Server" in result.error and b"Fault" in result.response_bytes
    too_long = OutgoingMessage("X" * 300, "CEB311Message", message.body)   # breaks the WSDL's MessageId
    refused = soap.send(too_long)
    assert (refused.accepted, refused.retryable) == (False, False)


def test_a_dropped_connection_is_retryable(sandbox, signing_key):
    soap = adapter(sandbox)
    message = messages("SOAP-DROP-1", signing_key)[0]
    sandbox.faults({"drop": {"times": 1}})
    result = soap.send(message)
    assert (result.accepted, result.retryable, result.unknown) == (False, True, True)
    assert soap.lookup(message.message_id) is None
    assert soap.send(message).accepted


def test_a_timeout_after_accepting_is_unknown_and_lookup_finds_it(sandbox, signing_key):
    soap = adapter(sandbox, read_timeout=1.0)
    message = messages("SOAP-TIMEOUT-1", signing_key)[0]
    sandbox.faults({"timeout_after_accept": {"times": 1, "hold": 4.0}})
    started = time.monotonic()
    result = soap.send(message)
    assert time.monotonic() - started < 3.5
    assert (result.accepted, result.retryable, result.unknown) == (False, True, True)
    assert result.request_bytes and result.response_bytes == b""
    found = soap.lookup(message.message_id)
    assert found is not None and found.accepted
    assert ack_of(found.response_bytes)["payloadSha256"] == sha(message.body)
    again = soap.send(message)
    assert again.accepted and again.duplicate


def test_downtime_is_retryable_and_unhealthy(sandbox, signing_key):
    soap = adapter(sandbox)
    message = messages("SOAP-DOWN-1", signing_key)[0]
    sandbox.faults({"downtime": {"seconds": 30, "mode": "503"}, "faces": ["soap"]})
    assert soap.send(message).retryable
    assert soap.health()["ok"] is False
    with pytest.raises(AdapterError):
        soap.fetch_receipts(None)
    sandbox.faults({})
    assert soap.send(message).accepted


def test_the_wsdl_is_bundled_and_never_fetched(sandbox):
    soap = adapter(sandbox)
    assert soap.options.wsdl == BUNDLED_WSDL and BUNDLED_WSDL.is_file()
    with pytest.raises(AdapterError):
        soap.transport.load(f"{sandbox.url('soap')}/soap?wsdl")
    with pytest.raises(AdapterConfigError) as caught:
        SoapOptions({"endpoint": "http://127.0.0.1:1/soap", "wsdl": "http://example.invalid/x.wsdl"})
    assert "never fetched" in str(caught.value)


def test_operations_carry_explicit_timeouts(sandbox):
    soap = adapter(sandbox, connect_timeout=1.5, read_timeout=7)
    assert soap.transport.operation_timeout == (1.5, 7.0)


def test_a_server_that_is_not_there_is_retryable():
    soap = registry.load_adapter("soap", {"endpoint": f"http://127.0.0.1:{free_port()}/soap", "connect_timeout": 1,
                                          "read_timeout": 1}, clock=SystemClock(), ids=UuidGenerator())
    result = soap.send(OutgoingMessage("M-1", "CEB311Message", b"<x/>"))
    assert (result.accepted, result.retryable, result.unknown) == (False, True, False)
    assert soap.health()["ok"] is False
