"""End to end: `gateway serve` runs as its own process on 127.0.0.1 (SQLite, in-process dispatcher,
sandbox government); a client talks to it over real HTTP until the order is released."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.helpers import fixture_enterprises, fixture_text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, key=None, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture
def server(tmp_path):
    env = {**os.environ, "GATEWAY_INSTANCE_DIR": str(tmp_path / "instance")}
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "tenant", "create", "E2E tenant",
                          "--cop-code", "4601980ABC", "--cop-name", "海口一达", "--dxp-id", "DXPENT0000458763",
                          *[a for code in fixture_enterprises() for a in ("--enterprise", code)]],
                         capture_output=True, text=True, env=env, check=True)
    key = json.loads(out.stdout)["api_key"]
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--interval", "0.2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if call("GET", f"{base}/v1/schema/order")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("gateway serve did not start: " + proc.stdout.read().decode(errors="replace"))
    yield base, key
    proc.terminate()
    proc.wait(timeout=10)


def test_order_goes_from_http_post_to_released(server):
    base, key = server
    status, body = call("POST", f"{base}/v1/orders", key, fixture_text("9610-air-japan-cosmetics.json").encode())
    assert status == 201, body
    order_id = json.loads(body)["id"]
    deadline = time.monotonic() + 30
    view = {}
    while time.monotonic() < deadline:
        status, body = call("GET", f"{base}/v1/orders/{order_id}", key)
        view = json.loads(body)
        if view["status"] != "in_progress":
            break
        time.sleep(0.3)
    assert view["status"] == "released", view
    status, xml = call("GET", f"{base}/v1/filings/{view['filings'][-1]['id']}/xml", key)
    assert status == 200 and xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_unauthenticated_and_invalid_requests(server):
    base, key = server
    assert call("POST", f"{base}/v1/orders", None, b"{}")[0] == 401
    status, body = call("POST", f"{base}/v1/orders", key, b'{"order_no": "X"}')
    assert status == 422
    assert any(p["path"] == "$.regime" for p in json.loads(body)["problems"])
