"""The sandbox government as its own process (gateway sandbox serve): start-up, scripts, the admin
endpoint, scripted transport faults, and the receipt feed behind the faces."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
import requests

from gateway.adapters import registry
from gateway.adapters.sandbox import SandboxGovernment
from gateway.adapters.sandbox.faults import TransportFaults
from gateway.adapters.sandbox.server import SandboxServer
from gateway.ports import FixedClock, SequentialIds, SystemClock, UuidGenerator
from tests.ceb_samples import import_set, signed
from tests.helpers import START
from tests.sandbox_process import ROOT, Ladder, SandboxProcess, stop


def http_adapter(sbx, **options):
    return registry.load_adapter("http", {"base_url": sbx.url("http"), "connect_timeout": 2, "read_timeout": 5,
                                          **options}, clock=SystemClock(), ids=UuidGenerator())


def test_the_main_cli_has_the_sandbox_command():
    from gateway.cli import cli

    group = cli.get_command(None, "sandbox")
    command = group.get_command(None, "serve")
    args = command.make_context("serve", ["--http", "8090", "--soap", "8091", "--files", "/tmp/x",
                                          "--amqp-url", "amqp://h//", "--queue-prefix", "p", "--script", "s.json"]).params
    assert (args["http_port"], args["soap_port"], args["files"], args["amqp_url"], args["queue_prefix"],
            args["script"]) == (8090, 8091, "/tmp/x", "amqp://h//", "p", "s.json")
    assert command.callback.__module__ == "gateway.cli.sandbox"


def test_the_process_announces_its_faces_and_stops_on_sigterm(tmp_path):
    with SandboxProcess.start(tmp_path, soap=True, files=tmp_path / "dxp") as sbx:
        assert sbx.info["ready"] is True and sbx.info["pid"] == sbx.proc.pid
        assert isinstance(sbx.info["http"], int) and isinstance(sbx.info["soap"], int)
        assert sbx.info["files"]["outbox"].endswith("OutBox")
        health = sbx.health()
        assert health["ok"] is True and health["faces"] == ["files", "http", "soap"]
        started = time.monotonic()
        assert stop(sbx.proc) == 0
        assert time.monotonic() - started < 5


def test_a_script_file_scripts_the_government_and_the_transport(tmp_path, signing_key):
    docs = import_set("PROC-SCRIPT-1")
    script = {"reject": [{"order_no": "PROC-SCRIPT-1", "reason": "商品归类错误 (wrong HS code)"}],
              "transport": {"error_5xx": {"times": 1, "status": 500}}}
    with SandboxProcess.start(tmp_path, script=script) as sbx:
        http = http_adapter(sbx)
        messages = [signed(root, signing_key) for root in docs.in_order()]
        first = http.send(messages[0])
        assert (first.accepted, first.retryable) == (False, True) and "500" in first.error
        assert all(http.send(m).accepted for m in messages)
        ladder = Ladder(http, [])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for raw in http.fetch_receipts(ladder.cursor):
                ladder.cursor = raw.cursor
                ladder.raws.append(raw)
            if any(b"wrong HS code" in r.body for r in ladder.raws):
                break
        assert any(b"<returnStatus>100</returnStatus>" in r.body and b"wrong HS code" in r.body for r in ladder.raws)
        assert sbx.faults({})["applied"] == {"error_5xx": 1}


def test_a_bad_script_file_stops_the_start_with_a_clear_message(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"transport": {"error_5xx": {"times": 1}, "earthquake": True}}))
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "sandbox", "serve", "--script", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "bad --script" in done.stderr and "earthquake" in done.stderr


def test_the_admin_endpoint_validates_faults(tmp_path):
    with SandboxProcess.start(tmp_path) as sbx:
        response = sbx.http.post(f"{sbx.url('http')}/admin/faults", json={"tornado": 1}, timeout=(2, 5))
        assert response.status_code == 400 and "tornado" in response.json()["error"]
        response = sbx.http.post(f"{sbx.url('http')}/admin/faults",
                                 json={"timeout_after_accept": {"times": 1, "hold": 0}}, timeout=(2, 5))
        assert response.status_code == 400 and "hold" in response.json()["error"]
        state = sbx.faults({"error_5xx": {"times": 3}, "on": ["send", "receipts"]})
        assert state["error_5xx"]["times"] == 3
        assert sbx.http.get(f"{sbx.url('http')}/receipts", timeout=(2, 5)).status_code == 503
        assert sbx.http.get(f"{sbx.url('http')}/admin/faults", timeout=(2, 5)).json()["error_5xx"]["times"] == 2


def test_refusing_downtime_closes_the_port_and_opens_it_again(tmp_path):
    with SandboxProcess.start(tmp_path) as sbx:
        port = sbx.info["http"]
        sbx.faults({"downtime": {"seconds": 2.0, "mode": "refuse"}, "faces": ["http"]})
        time.sleep(0.4)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        sbx.wait_healthy(timeout=10)                                 # same port, listening again


def test_the_soap_face_serves_the_bundled_wsdl_and_refuses_bad_envelopes(tmp_path):
    from gateway.adapters.soap import BUNDLED_WSDL

    with SandboxProcess.start(tmp_path, soap=True) as sbx:
        base = sbx.url("soap")
        assert requests.get(f"{base}/soap?wsdl", timeout=(2, 5)).content == BUNDLED_WSDL.read_bytes()
        for body, expected in ((b"<not-xml", b"not well-formed"),
                               (b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x "y">]><e/>', b"document type"),
                               (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
                                b'<Explode xmlns="urn:gateway:sandbox:soap:v1"/></s:Body></s:Envelope>',
                                b"unknown operation")):
            response = requests.post(f"{base}/soap", data=body, headers={"Content-Type": "text/xml"}, timeout=(2, 5))
            assert response.status_code == 500
            assert b"soap-env:Client" in response.content and expected in response.content


# ---- in process: the faults and the receipt feed behind the faces ----------------------------------

def test_counted_faults_are_used_up_and_filtered_by_face_and_operation():
    faults = TransportFaults.from_dict({"error_5xx": {"times": 2}, "drop": 1, "faces": ["http"], "on": ["send"]})
    assert faults.action("soap", "send").kind == "pass"
    assert faults.action("http", "receipts").kind == "pass"
    assert [faults.action("http", "send").kind for _ in range(4)] == ["drop", "error_5xx", "error_5xx", "pass"]
    now = [100.0]
    windowed = TransportFaults(monotonic=lambda: now[0])
    windowed.replace({"downtime": {"seconds": 5}})
    assert windowed.action("amqp", "send").kind == "down_503" and windowed.downtime("files")[0] == 5
    now[0] += 5.5
    assert windowed.action("amqp", "send").kind == "pass"
    with pytest.raises(ValueError, match="downtime.mode"):
        TransportFaults.from_dict({"downtime": {"seconds": 1, "mode": "flood"}})


def test_the_feed_holds_receipts_back_and_duplicates_them(signing_key):
    government = SandboxGovernment(FixedClock(START, step_seconds=1), SequentialIds())
    server = SandboxServer(government, TransportFaults.from_dict({"out_of_order": True, "duplicate_receipts": True}))
    docs = import_set("FEED-1")
    message = signed(docs.order, signing_key)
    assert server.receive("http", message.message_id, message.message_type, message.body)["status"] == "accepted"
    server.feed.pull()
    assert server.feed.since(None) == []                             # rung "2" held back
    server.feed.pull()
    statuses = [_status(item.body) for item in server.feed.since(None)]
    assert statuses == ["120", "120", "2", "2"]                      # the newer first, each twice
    assert [item.cursor for item in server.feed.since(None)] == ["000000000001", "000000000002",
                                                                "000000000003", "000000000004"]
    assert [i.cursor for i in server.feed.since("000000000002")] == ["000000000003", "000000000004"]


def _status(body: bytes) -> str:
    return body.split(b"<returnStatus>")[1].split(b"</returnStatus>")[0].decode()
