"""The dxp-files adapter: DxpMsg files into an OutBox, receipts from an InBox, with the sandbox
process watching the same folders."""
from __future__ import annotations

import os
import time

import pytest

from gateway.adapters import dxpmsg, registry
from gateway.adapters.dxp import DxpFilesAdapter
from gateway.adapters.fileio import write_atomically
from gateway.adapters.options import AdapterConfigError
from gateway.ports import AdapterError, OutgoingMessage, SystemClock, UuidGenerator
from tests.ceb_samples import import_set, signed
from tests.sandbox_process import Ladder, SandboxProcess, sha


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("dxp")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, folder):
    with SandboxProcess.start(tmp_path_factory.mktemp("sandbox-files"), files=folder) as sbx:
        yield sbx


@pytest.fixture(autouse=True)
def no_faults(sandbox):
    sandbox.faults({})
    yield
    sandbox.faults({})


def adapter(folder) -> DxpFilesAdapter:
    return registry.load_adapter("dxp-files", {"outbox": str(folder / "OutBox"), "inbox": str(folder / "InBox")},
                                 clock=SystemClock(), ids=UuidGenerator())


def messages(order_no: str, key) -> list:
    return [signed(root, key) for root in import_set(order_no).in_order()]


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_the_filing_ladder_completes_through_the_folders(sandbox, folder, signing_key):
    dxp = adapter(folder)
    sent = messages("FILES-LADDER-1", signing_key)
    results = [dxp.send(m) for m in sent]
    assert all(r.accepted and not r.retryable for r in results)
    for message, result in zip(sent, results, strict=True):
        envelope = dxpmsg.unwrap(result.request_bytes)
        assert envelope.data == message.body and envelope.cop_msg_id == message.message_id
        assert envelope.receiver_ids == ("DXPEDCCEB0000002",) and envelope.sender_id == "DXPENT0000458763"
    ladder = Ladder(dxp, ["FILES-LADDER-1"]).run()
    assert ladder.of("FILES-LADDER-1", "order") == ["2", "120"]
    assert ladder.of("FILES-LADDER-1", "inventory") == ["2", "120", "399", "800"]
    received = sandbox.received()
    assert {m.message_id: received[m.message_id]["deliveries"] for m in sent} == {m.message_id: 1 for m in sent}
    # the bytes the sandbox read from each file are the bytes the adapter recorded
    wire = {w["messageId"]: w for w in sandbox.wire() if w["face"] == "files"}
    assert all(wire[m.message_id]["requestSha256"] == sha(r.request_bytes) for m, r in zip(sent, results, strict=True))
    # taken files were named after AddInfo/FileName; handed-over receipts went to processed/
    assert {p.name for p in (folder / "Sent").iterdir()} >= {f"{m.message_type}_{m.message_id}.xml" for m in sent}
    processed = list((folder / "InBox" / "processed").iterdir())
    assert len(processed) >= len(ladder.raws)
    assert not [p for p in (folder / "InBox").iterdir() if p.is_file() and not p.name.startswith(".")]
    assert not [p for p in (folder / "OutBox").iterdir() if p.name.startswith(".")]   # no temp files left
    assert dxp.health()["ok"] is True


def test_a_broken_file_is_quarantined_and_the_next_receipt_still_arrives(sandbox, folder, signing_key):
    dxp = adapter(folder)
    inbox = folder / "InBox"
    (inbox / "0_broken.xml").write_bytes(b"<dxp:DxpMsg xmlns:dxp='http://www.chinaport.gov.cn/dxp' ver='1.0'><dxp:Tra")
    (inbox / "0_notes.txt").write_text("not a receipt")
    (inbox / "0_wrong-root.xml").write_bytes(b"<Other xmlns='urn:neither-dxp-nor-ceb'/>")   # raw CEB is read
    (inbox / ".half-written.xml.tmp").write_bytes(b"<dxp")               # temp files are not touched
    past = time.time() - 60
    for name in ("0_broken.xml", "0_notes.txt", "0_wrong-root.xml"):
        os.utime(inbox / name, (past, past))                              # they come first
    assert all(dxp.send(m).accepted for m in messages("FILES-QUARANTINE-1", signing_key))
    Ladder(dxp, ["FILES-QUARANTINE-1"]).run()
    quarantine = {p.name for p in (inbox / "quarantine").iterdir()}
    assert quarantine == {"0_broken.xml", "0_notes.txt", "0_wrong-root.xml"}
    health = dxp.health()
    assert health["quarantined"] == 3 and len(health["quarantined_recent"]) == 3
    assert (inbox / ".half-written.xml.tmp").exists()
    (inbox / ".half-written.xml.tmp").unlink()


def test_receipts_stay_in_the_inbox_until_handed_over(sandbox, folder, signing_key):
    inbox = folder / "InBox"
    body = b'<CEB312Message xmlns="http://www.chinaport.gov.cn/ceb" guid="H" version="1.0"/>'
    sandbox.faults({"downtime": {"seconds": 30}, "faces": ["files"]})    # the sandbox writes nothing now
    write_atomically(inbox / "handover.xml", dxpmsg.wrap(body, cop_msg_id="H-1", msg_type="CEB312Message",
                                                          sender_id="DXPEDCCEB0000002",
                                                          receiver_ids=["DXPENT0000458763"], created=SystemClock().now()))
    first = adapter(folder)
    got = [r for r in first.fetch_receipts(None) if r.body == body]
    assert len(got) == 1 and (inbox / "handover.xml").exists()          # read, not yet handed over
    again = [r for r in first.fetch_receipts(None) if r.body == body]
    assert again == got                                                  # offered again until handed over
    restarted = adapter(folder)                                          # a crash before the hand-over ...
    redelivered = [r for r in restarted.fetch_receipts(None) if r.body == body]
    assert len(redelivered) == 1 and redelivered[0].cursor > got[0].cursor   # ... loses nothing
    restarted.fetch_receipts(redelivered[0].cursor)
    assert not (inbox / "handover.xml").exists()
    assert (inbox / "processed" / "handover.xml").read_bytes().startswith(b"<?xml")


def test_lookup_finds_a_message_still_waiting_in_the_outbox(sandbox, folder, signing_key):
    dxp = adapter(folder)
    message = messages("FILES-WAIT-1", signing_key)[0]
    sandbox.faults({"downtime": {"seconds": 30}, "faces": ["files"]})
    result = dxp.send(message)
    found = dxp.lookup(message.message_id)
    assert found is not None and found.accepted and found.request_bytes == result.request_bytes
    sandbox.faults({})                                                    # the DXP client is back
    wait_for(lambda: message.message_id in sandbox.received())            # taken once the sandbox is back
    with pytest.raises(AdapterError) as caught:
        dxp.lookup(message.message_id)
    assert caught.value.retryable is False


def test_duplicated_and_out_of_order_receipts_still_complete_the_ladder(sandbox, folder, signing_key):
    dxp = adapter(folder)
    sandbox.faults({"duplicate_receipts": True, "out_of_order": True})
    assert all(dxp.send(m).accepted for m in messages("FILES-OOO-1", signing_key))
    ladder = Ladder(dxp, ["FILES-OOO-1"]).run(settle=1.0)
    inventory = ladder.of("FILES-OOO-1", "inventory")
    rank = {"2": 0, "120": 1, "399": 2, "800": 3}
    assert sorted(inventory) == ["120", "120", "2", "2", "399", "399", "800", "800"]       # each twice
    assert [rank[s] for s in inventory] != sorted(rank[s] for s in inventory)             # some came late


def test_export_messages_go_to_the_export_receiver_and_unknown_types_need_one(tmp_path):
    dxp = registry.load_adapter("dxp-files", {"outbox": str(tmp_path / "out"), "inbox": str(tmp_path / "in"),
                                              "sender_id": "DXPENT0000000001"}, clock=SystemClock(), ids=UuidGenerator())
    export = dxp.send(OutgoingMessage("E-1", "CEB303Message", b"<CEB303Message/>"))
    envelope = dxpmsg.unwrap(export.request_bytes)
    assert envelope.receiver_ids == ("DXPEDCCEB0000003",) and envelope.sender_id == "DXPENT0000000001"
    assert (tmp_path / "out" / "CEB303Message_E-1.xml").read_bytes() == export.request_bytes
    unknown = dxp.send(OutgoingMessage("D-1", "DecMessage", b"<DecMessage/>"))
    assert (unknown.accepted, unknown.retryable) == (False, False) and "default_receiver" in unknown.error


def test_folders_are_required(tmp_path):
    with pytest.raises(AdapterConfigError) as caught:
        registry.check_options("dxp-files", {"outbox": str(tmp_path)})
    assert "inbox is required" in str(caught.value)


def test_the_gateway_releases_an_order_through_the_file_drop(sandbox, folder, tmp_path, signing_key):
    from gateway.bootstrap import bootstrap
    from gateway.config import Settings
    from gateway.ports import FixedClock, SequentialIds
    from tests.helpers import START, add_tenant, fixture_text

    settings = Settings(instance_dir=tmp_path / "instance", database_url=f"sqlite:///{tmp_path}/gw.sqlite3",
                        adapter="dxp-files", adapter_options={"outbox": str(folder / "OutBox"),
                                                              "inbox": str(folder / "InBox"),
                                                              # the inspection / tax / FX records are no CEB
                                                              # message: they need a receiver, like DecMessage,
                                                              # and a sender id (they carry no BaseTransfer)
                                                              "default_receiver": "DXPAGENCY0000001",
                                                              "sender_id": "DXPENT0000458763"},
                        channel_environment="sandbox")      # the sandbox process behind the folders
    settings.check()
    gw = bootstrap(settings, clock=FixedClock(START, step_seconds=1), ids=SequentialIds(prefix="F11E0000-0000-4000-8000"),
                   key=signing_key)
    tenant, _ = add_tenant(gw)
    order = gw.submit(tenant, fixture_text("9610-minimal.json"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and gw.order(tenant, order.order_id)["status"] != "released":
        gw.dispatcher.run_once()
        time.sleep(0.05)
    view = gw.order(tenant, order.order_id)
    assert view["status"] == "released", (view["status_reason"], view)
    received = sandbox.received()
    assert all(received[f["guid"]]["deliveries"] == 1 and received[f["guid"]]["sha256"] == f["sha256"]
               for f in view["filings"])
    # receipts that come after the release (an agency's "accepted" behind the CEB816 that released the
    # tax record already) are handed over too: the InBox empties
    deadline = time.monotonic() + 10
    while [p for p in (folder / "InBox").iterdir() if p.is_file() and not p.name.startswith(".")]:
        assert time.monotonic() < deadline, sorted(p.name for p in (folder / "InBox").iterdir())
        gw.dispatcher.run_once()
        time.sleep(0.05)
    assert gw.order(tenant, order.order_id)["status"] == "released"
