"""End to end: `gateway serve` runs as its own process on 127.0.0.1 (SQLite, gunicorn workers, a
dispatcher process, sandbox government); a client talks to it over real HTTP until the order is
released; SIGTERM stops every process it started."""
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import fixture_enterprises, fixture_text
from tests.live_server import spawn_serve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, key=None, body=None, headers_out=None):
    req = urllib.request.Request(url, data=body, method=method)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            if headers_out is not None:
                headers_out.update(r.headers)
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
    proc = spawn_serve(["--port", str(port), "--interval", "0.2"], env, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    wait_until_up(proc, base, tmp_path / "serve.log")
    yield base, key
    proc.terminate()
    proc.wait(timeout=60)


def wait_until_up(proc, base, log_path, deadline_seconds=60):     # a bound for a loaded machine, not a timing goal
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            if call("GET", f"{base}/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail("gateway serve did not start: " + log_path.read_text(errors="replace"))


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


def children(pid: int) -> list[int]:
    """Children of every thread of ``pid`` (a restarted dispatcher is forked by the watcher thread)."""
    return [int(c) for task in Path(f"/proc/{pid}/task").glob("*") if (task / "children").exists()
            for c in (task / "children").read_text().split()]


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
def test_serve_runs_gunicorn_with_a_dispatcher_process_and_sigterm_stops_them_all(tmp_path):
    operator_key = "e2e-operator-key"
    metrics_dir = tmp_path / "metrics"
    env = {**os.environ, "GATEWAY_INSTANCE_DIR": str(tmp_path / "instance"), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           "GATEWAY_OPERATOR_KEY_SHA256": hashlib.sha256(operator_key.encode()).hexdigest()}
    port = free_port()
    proc = spawn_serve(["--port", str(port), "--workers", "2", "--threads", "2", "--interval", "0.2"], env,
                       tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, base, tmp_path / "serve.log")
        headers: dict = {}
        assert call("GET", f"{base}/healthz", headers_out=headers)[0] == 200
        assert headers["Server"] == "gunicorn" and "werkzeug" not in json.dumps(headers).lower()
        assert len(headers["X-Request-Id"]) == 32
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("dispatch run" in command_line(c) for c in children(proc.pid)):
            time.sleep(0.2)
        tree = {c: command_line(c) for c in children(proc.pid)}
        assert len(tree) == 3, tree                                  # two workers and the dispatcher
        assert sum("dispatch run" in c for c in tree.values()) == 1
        assert all("werkzeug" not in c.lower() for c in tree.values())

        first = next(pid for pid, c in tree.items() if "dispatch run" in c)   # a dispatcher that dies is replaced
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [c for c in children(proc.pid)
                                                   if c != first and "dispatch run" in command_line(c)]:
            time.sleep(0.2)
        tree = {c: command_line(c) for c in children(proc.pid)}
        assert sum("dispatch run" in c for c in tree.values()) == 1 and first not in tree, tree

        for _ in range(6):                                           # answered by both workers, counted once
            call("GET", f"{base}/healthz")
        status, body = call("GET", f"{base}/metrics", operator_key)
        assert status == 200
        samples = {(s.name, s.labels.get("route"), s.labels.get("status")): s.value
                   for f in text_string_to_metric_families(body.decode()) for s in f.samples}
        assert samples[("gateway_http_requests_total", "/healthz", "200")] >= 7
        assert samples[("gateway_database_up", None, None)] == 1
        assert list(metrics_dir.glob("*.db"))                      # multiprocess mode
        assert call("GET", f"{base}/metrics")[0] == 403
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=90)
        output = (tmp_path / "serve.log").read_text(errors="replace")
    assert code == 0, output
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(running(pid) for pid in tree):
        time.sleep(0.1)
    assert not [pid for pid in tree if running(pid)], "processes left running after SIGTERM"
    lines = [line for line in output.splitlines() if line.strip()]
    assert "\x1b[" not in output                                    # no colour codes off a terminal
    records = [json.loads(line) for line in lines]                  # every line is JSON
    assert any(r["message"].startswith("dispatcher process ") and r["message"].endswith(": restarting it")
               for r in records), output                           # gateway/dispatch_processes.py
    assert any(r["message"] == "dispatchers stopped (exit 0)" for r in records), output
