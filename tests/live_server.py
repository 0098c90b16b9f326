"""A real ``gateway serve`` process on 127.0.0.1 with one tenant (and an operator key), for the tests
that talk to the API over HTTP as a client would (schemathesis, the generated client)."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import fixture_enterprises

OPERATOR_KEY = "op_contract-test-operator-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    base: str
    tenant_key: str
    process: subprocess.Popen

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={"Authorization": f"Bearer {self.tenant_key}", **(headers or {})})
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()


def start(instance: Path, *extra_env: tuple[str, str]) -> Live:
    env = {**os.environ, "GATEWAY_INSTANCE_DIR": str(instance),
           "GATEWAY_OPERATOR_KEY_SHA256": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest(), **dict(extra_env)}
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "tenant", "create", "Contract tenant",
                          "--cop-code", "4601980ABC", "--cop-name", "海口一达", "--dxp-id", "DXPENT0000458763",
                          *(arg for code in fixture_enterprises() for arg in ("--enterprise", code))],
                         capture_output=True, text=True, env=env, check=True)
    key = json.loads(out.stdout)["api_key"]
    port = free_port()
    proc = spawn_serve(["--port", str(port), "--interval", "0.2"], env, instance / "serve.log")
    live = Live(f"http://127.0.0.1:{port}", key, proc)
    deadline = time.monotonic() + 60      # gunicorn workers and the dispatcher start
    while time.monotonic() < deadline:
        try:
            if live.call("GET", "/v1/openapi.json")[0] == 200:
                return live
        except OSError:
            time.sleep(0.2)
    stop(live)
    raise RuntimeError("gateway serve did not start: " + (instance / "serve.log").read_text(errors="replace"))


def spawn_serve(args: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    """`gateway serve` with its output in a file: a pipe nobody reads fills up (64 KiB of access
    logs) and then every worker blocks in its log handler, which hung CI for 90 minutes."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", *args], env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop(live: Live) -> None:
    live.process.terminate()
    try:
        live.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        live.process.kill()
        live.process.wait(timeout=10)
