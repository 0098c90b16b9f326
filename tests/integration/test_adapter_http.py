"""The http adapter against the sandbox government running as its own process on 127.0.0.1."""
from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.adapters import registry
from gateway.adapters.http import HttpAdapter, HttpOptions
from gateway.adapters.options import AdapterConfigError
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.ports import AdapterError, FixedClock, SequentialIds, SystemClock, UuidGenerator
from tests.ceb_samples import import_set, signed
from tests.helpers import START, add_tenant, fixture_text
from tests.sandbox_process import Ladder, SandboxProcess, free_port, sha


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with SandboxProcess.start(tmp_path_factory.mktemp("sandbox-http")) as sbx:
        yield sbx


@pytest.fixture(autouse=True)
def no_faults(sandbox):
    sandbox.faults({})
    yield
    sandbox.faults({})


def adapter(sandbox, **options) -> HttpAdapter:
    return registry.load_adapter("http", {"base_url": sandbox.url("http"), "connect_timeout": 2,
                                          "read_timeout": 5, **options}, clock=SystemClock(), ids=UuidGenerator())


def messages(order_no: str, key) -> list:
    return [signed(root, key) for root in import_set(order_no).in_order()]


def test_the_filing_ladder_completes_over_http_and_each_message_is_taken_once(sandbox, signing_key):
    http = adapter(sandbox)
    sent = messages("HTTP-LADDER-1", signing_key)
    results = [http.send(m) for m in sent]
    assert [(r.accepted, r.duplicate, r.retryable, r.unknown) for r in results] == [(True, False, False, False)] * 4
    for message, result in zip(sent, results, strict=True):
        assert result.request_bytes == message.body                  # the exact signed bytes went out
        ack = json.loads(result.response_bytes)
        assert ack["messageId"] == message.message_id and ack["status"] == "accepted"
        assert ack["payloadSha256"] == sha(message.body)             # and arrived unchanged
    ladder = Ladder(http, ["HTTP-LADDER-1"]).run()
    assert ladder.of("HTTP-LADDER-1", "order") == ["2", "120"]
    assert ladder.of("HTTP-LADDER-1", "inventory") == ["2", "120", "399", "800"]
    received = sandbox.received()
    assert {m.message_id: received[m.message_id]["deliveries"] for m in sent} == {m.message_id: 1 for m in sent}
    assert all(received[m.message_id]["sha256"] == sha(m.body) for m in sent)
    assert http.health()["ok"] is True


def test_recorded_bytes_are_what_went_over_the_wire(sandbox, signing_key):
    http = adapter(sandbox)
    message = messages("HTTP-WIRE-1", signing_key)[0]
    result = http.send(message)
    entry = [w for w in sandbox.wire() if w["operation"] == "send" and w["messageId"] == message.message_id][-1]
    assert entry["requestSha256"] == sha(result.request_bytes)
    assert entry["responseSha256"] == sha(result.response_bytes)


def test_a_resend_is_answered_duplicate_and_processed_once(sandbox, signing_key):
    http = adapter(sandbox)
    sent = messages("HTTP-DUP-1", signing_key)
    assert all(http.send(m).accepted for m in sent)
    again = http.send(sent[0])
    assert again.accepted and again.duplicate
    assert sandbox.received()[sent[0].message_id]["deliveries"] == 2
    ladder = Ladder(http, ["HTTP-DUP-1"]).run()
    assert ladder.of("HTTP-DUP-1", "order") == ["2", "120"]          # one ladder, not two


def test_5xx_is_retryable_and_the_sandbox_kept_nothing(sandbox, signing_key):
    http = adapter(sandbox)
    message = messages("HTTP-5XX-1", signing_key)[0]
    sandbox.faults({"error_5xx": {"times": 1, "status": 502}})
    result = http.send(message)
    assert (result.accepted, result.retryable, result.unknown) == (False, True, False)
    assert "502" in result.error and result.response_bytes
    assert http.lookup(message.message_id) is None
    assert message.message_id not in sandbox.received()
    retry = http.send(message)
    assert retry.accepted and not retry.duplicate


def test_a_dropped_connection_is_retryable_and_looked_up_before_resending(sandbox, signing_key):
    http = adapter(sandbox)
    message = messages("HTTP-DROP-1", signing_key)[0]
    sandbox.faults({"drop": {"times": 1}})
    result = http.send(message)
    assert (result.accepted, result.retryable, result.unknown) == (False, True, True)
    assert result.request_bytes == message.body and result.response_bytes == b""
    assert http.lookup(message.message_id) is None                   # dropped before it was kept
    assert http.send(message).accepted


def test_a_timeout_after_accepting_is_an_unknown_outcome_that_lookup_resolves(sandbox, signing_key):
    http = adapter(sandbox, read_timeout=1.0)
    message = messages("HTTP-TIMEOUT-1", signing_key)[0]
    sandbox.faults({"timeout_after_accept": {"times": 1, "hold": 4.0}})
    started = time.monotonic()
    result = http.send(message)
    assert time.monotonic() - started < 3.5                          # the read timeout held
    assert (result.accepted, result.retryable, result.unknown) == (False, True, True)
    found = http.lookup(message.message_id)
    assert found is not None and found.accepted
    assert json.loads(found.response_bytes)["payloadSha256"] == sha(message.body)
    resend = http.send(message)
    assert resend.accepted and resend.duplicate


def test_downtime_answering_503_is_retryable_and_passes(sandbox, signing_key):
    http = adapter(sandbox)
    message = messages("HTTP-DOWN-1", signing_key)[0]
    sandbox.faults({"downtime": {"seconds": 30, "mode": "503"}})
    result = http.send(message)
    assert (result.accepted, result.retryable, result.unknown) == (False, True, False)
    assert http.health()["ok"] is False
    with pytest.raises(AdapterError) as caught:
        http.fetch_receipts(None)
    assert caught.value.retryable
    sandbox.faults({})                                               # the window ends
    assert http.send(message).accepted


def test_downtime_refusing_connections_is_retryable_without_doubt(sandbox, signing_key):
    http = adapter(sandbox)
    message = messages("HTTP-REFUSE-1", signing_key)[0]
    sandbox.faults({"downtime": {"seconds": 2.5, "mode": "refuse"}})
    time.sleep(0.4)                                                  # the listener is closed
    result = http.send(message)
    assert (result.accepted, result.retryable, result.unknown) == (False, True, False), result.error
    assert "cannot connect" in result.error
    sandbox.wait_healthy(timeout=10)
    assert http.send(message).accepted


def test_out_of_order_and_duplicated_receipts_still_complete_the_ladder(sandbox, signing_key):
    http = adapter(sandbox)
    sandbox.faults({"out_of_order": True, "duplicate_receipts": True})
    assert all(http.send(m).accepted for m in messages("HTTP-OOO-1", signing_key))
    ladder = Ladder(http, ["HTTP-OOO-1"]).run(settle=0.3)
    order = ladder.of("HTTP-OOO-1", "order")
    assert order == ["120", "120", "2", "2"]                          # later status first, each twice
    inventory = ladder.of("HTTP-OOO-1", "inventory")
    assert inventory.index("120") < inventory.index("2") and inventory.count("800") == 2


def test_a_server_that_is_not_there_is_retryable_and_unhealthy():
    http = registry.load_adapter("http", {"base_url": f"http://127.0.0.1:{free_port()}", "connect_timeout": 1,
                                          "read_timeout": 1}, clock=SystemClock(), ids=UuidGenerator())
    from gateway.ports import OutgoingMessage

    result = http.send(OutgoingMessage("M-1", "CEB311Message", b"<x/>"))
    assert (result.accepted, result.retryable, result.unknown) == (False, True, False)
    assert http.health()["ok"] is False
    with pytest.raises(AdapterError):
        http.fetch_receipts(None)
    with pytest.raises(AdapterError):
        http.lookup("M-1")


def test_bad_options_are_refused_with_every_problem_named(tmp_path):
    with pytest.raises(AdapterConfigError) as caught:
        HttpOptions({"base_url": "127.0.0.1:80", "read_timeout": 0, "client_cert": str(tmp_path / "no.pem"),
                     "colour": "blue"})
    text = str(caught.value)
    for part in ("base_url must be a http or https URL", "read_timeout", "client_cert: file not found",
                 "client_cert and client_key go together", "unknown option(s) colour"):
        assert part in text


# ---- mTLS --------------------------------------------------------------------------------------

def _pki(folder):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    now = dt.datetime.now(dt.UTC)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def cert(subject, issuer_name, public_key, signer, *, ca=False, san=None, usage=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(san, critical=False)
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        return builder.sign(signer, hashes.SHA256())

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    import ipaddress

    ca_key, server_key, client_key = key(), key(), key()
    ca = cert(name("test CA"), name("test CA"), ca_key.public_key(), ca_key, ca=True)
    server = cert(name("127.0.0.1"), ca.subject, server_key.public_key(), ca_key,
                  san=x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                  usage=[x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])
    client = cert(name("gateway client"), ca.subject, client_key.public_key(), ca_key,
                  usage=[x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])
    files = {}
    for label, obj in (("ca", ca), ("server_cert", server), ("client_cert", client)):
        files[label] = folder / f"{label}.pem"
        files[label].write_bytes(obj.public_bytes(serialization.Encoding.PEM))
    for label, k in (("server_key", server_key), ("client_key", client_key)):
        files[label] = folder / f"{label}.pem"
        files[label].write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    files["client_ca"] = files["ca"]
    return files


def test_mutual_tls_with_a_client_certificate(tmp_path, signing_key):
    pki = _pki(tmp_path)
    with SandboxProcess.start(tmp_path, tls=pki) as sbx:
        assert sbx.url("http").startswith("https://127.0.0.1:")
        good = registry.load_adapter("http", {"base_url": sbx.url("http"), "ca_bundle": str(pki["ca"]),
                                              "client_cert": str(pki["client_cert"]),
                                              "client_key": str(pki["client_key"]), "connect_timeout": 2,
                                              "read_timeout": 5}, clock=SystemClock(), ids=UuidGenerator())
        anonymous = registry.load_adapter("http", {"base_url": sbx.url("http"), "ca_bundle": str(pki["ca"]),
                                                   "connect_timeout": 2, "read_timeout": 5},
                                          clock=SystemClock(), ids=UuidGenerator())
        message = messages("HTTP-MTLS-1", signing_key)[0]
        refused = anonymous.send(message)
        assert not refused.accepted and refused.retryable
        assert message.message_id not in sbx.received()
        assert good.health()["mtls"] is True and good.health()["ok"] is True
        assert good.send(message).accepted
        assert sbx.received()[message.message_id]["deliveries"] == 1


# ---- the whole gateway on the http adapter --------------------------------------------------------

def test_the_gateway_releases_an_order_through_the_http_adapter(sandbox, tmp_path, signing_key):
    settings = Settings(instance_dir=tmp_path / "instance", database_url=f"sqlite:///{tmp_path}/gw.sqlite3",
                        adapter="http", adapter_options={"base_url": sandbox.url("http"), "connect_timeout": 2,
                                                         "read_timeout": 5},
                        channel_environment="sandbox")      # the sandbox process behind the http adapter
    settings.check()
    gw = bootstrap(settings, clock=FixedClock(START, step_seconds=1), ids=SequentialIds(), key=signing_key)
    assert list(gw.adapters) == ["http"] and isinstance(gw.adapters["http"], HttpAdapter)
    tenant, _ = add_tenant(gw)
    order = gw.submit(tenant, fixture_text("1210-single-line.json"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and gw.order(tenant, order.order_id)["status"] != "released":
        gw.dispatcher.run_once()
    view = gw.order(tenant, order.order_id)
    assert view["status"] == "released", view
    received = sandbox.received()
    assert {f["guid"]: received[f["guid"]]["deliveries"] for f in view["filings"]} == \
        {f["guid"]: 1 for f in view["filings"]}
    assert all(received[f["guid"]]["sha256"] == f["sha256"] for f in view["filings"])   # stored = sent = received
