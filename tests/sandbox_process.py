"""The sandbox government as a separate process for adapter tests, and shared helpers.

    with SandboxProcess.start(tmp_path, soap=True) as sbx:
        sbx.url("http")                     # http://127.0.0.1:<port>
        sbx.faults({"error_5xx": {"times": 1}})
        sbx.received()                      # {message id: {"deliveries": n, ...}}

``rabbitmq_url``: a fixture (import it into the test module) giving the broker URL; skipped with a
loud reason when RabbitMQ is not reachable, failed instead when CI=true.
"""
from __future__ import annotations

import hashlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from gateway.declarations import keys
from gateway.declarations.receipts import ReceiptUnreadable, parse_receipt

ROOT = Path(__file__).resolve().parents[1]
AMQP_HOST, AMQP_PORT = "127.0.0.1", 5672
AMQP_URL = os.environ.get("GATEWAY_TEST_AMQP_URL", f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}//")
RABBIT_SKIP_REASON = f"RabbitMQ not reachable on {AMQP_HOST}:{AMQP_PORT} — AMQP adapter tests did not run"
START_TIMEOUT = 30.0

EBP = EBC = "1105910159"
PAY = "1101110323"
LOGISTICS = "1101180326"
FINAL = {"order": "120", "payment": "120", "waybill": "120", "inventory": "800"}


class SandboxProcess:
    def __init__(self, proc: subprocess.Popen, info: dict, log_path: Path, tls: dict | None):
        self.proc = proc
        self.info = info
        self.log_path = log_path
        self.tls = tls
        self.http = requests.Session()
        self.http.trust_env = False
        if tls:
            self.http.verify = str(tls["ca"])
            if tls.get("client_cert"):
                self.http.cert = (str(tls["client_cert"]), str(tls["client_key"]))

    # -- life ----------------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def start(cls, tmp_path: Path, *, soap: bool = False, amqp_url: str | None = None, queue_prefix: str | None = None,
              files: Path | None = None, script: dict | None = None, tls: dict | None = None,
              extra: list[str] | None = None):
        args = [sys.executable, "-m", "gateway.cli", "sandbox", "serve", "--http", "0"]
        if soap:
            args += ["--soap", "0"]
        if amqp_url:
            args += ["--amqp-url", amqp_url, "--queue-prefix", queue_prefix or "sandbox"]
        if files is not None:
            args += ["--files", str(files)]
        if script is not None:
            path = tmp_path / "sandbox-script.json"
            path.write_text(json.dumps(script), "utf-8")
            args += ["--script", str(path)]
        if tls:
            args += ["--tls-cert", str(tls["server_cert"]), "--tls-key", str(tls["server_key"])]
            if tls.get("client_ca"):
                args += ["--tls-client-ca", str(tls["client_ca"])]
        args += extra or []
        log_path = tmp_path / f"sandbox-{time.monotonic_ns()}.log"
        log = open(log_path, "wb")
        proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        try:
            info = _ready_line(proc, log_path)
            sbx = cls(proc, info, log_path, tls)
            sbx.wait_healthy()
            yield sbx
        finally:
            stop(proc)

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                response = self.http.get(f"{self.url('http')}/health", timeout=(1, 2))
                if response.status_code == 200:
                    return response.json()
                last = response.status_code
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.1)
        raise AssertionError(f"sandbox not healthy after {timeout} s ({last}); log:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")[-5000:]

    # -- addresses and admin -------------------------------------------------------------------

    def url(self, face: str) -> str:
        return f"{self.info.get('scheme', 'http')}://127.0.0.1:{self.info[face]}"

    def faults(self, data: dict) -> dict:
        response = self.http.post(f"{self.url('http')}/admin/faults", json=data, timeout=(2, 5))
        assert response.status_code == 200, response.text
        return response.json()

    def script(self, data: dict) -> dict:
        response = self.http.post(f"{self.url('http')}/admin/script", json=data, timeout=(2, 5))
        assert response.status_code == 200, response.text
        return response.json()

    def received(self) -> dict:
        return self.http.get(f"{self.url('http')}/admin/received", timeout=(2, 5)).json()

    def wire(self) -> list[dict]:
        return self.http.get(f"{self.url('http')}/admin/wire", timeout=(2, 5)).json()

    def health(self) -> dict:
        return self.http.get(f"{self.url('http')}/health", timeout=(2, 5)).json()


def _ready_line(proc: subprocess.Popen, log_path: Path) -> dict:
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + START_TIMEOUT
    buffer = b""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"sandbox exited with {proc.returncode}; log:\n{log_path.read_text('utf-8', 'replace')}")
        if selector.select(timeout=0.2):
            chunk = os.read(proc.stdout.fileno(), 4096)
            buffer += chunk
            if b"\n" in buffer:
                return json.loads(buffer.split(b"\n", 1)[0])
    raise AssertionError(f"sandbox gave no ready line in {START_TIMEOUT} s; log:\n{log_path.read_text('utf-8', 'replace')}")


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- RabbitMQ ----------------------------------------------------------------------------------

_rabbit: dict = {}


def rabbit_reachable() -> tuple[bool, str]:
    if not _rabbit:
        try:
            import kombu

            with kombu.Connection(AMQP_URL, connect_timeout=3) as conn:
                conn.connect()
            _rabbit.update(ok=True, error="")
        except Exception as exc:
            _rabbit.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    return bool(_rabbit["ok"]), str(_rabbit["error"])


@pytest.fixture(scope="module")
def rabbitmq_url():
    ok, error = rabbit_reachable()
    if not ok:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and RabbitMQ is required: {RABBIT_SKIP_REASON} ({error})", pytrace=False)
        pytest.skip(f"{RABBIT_SKIP_REASON} ({error})")
    return AMQP_URL


def delete_queues(url: str, prefix: str) -> None:
    import kombu

    with kombu.Connection(url, connect_timeout=3) as conn:
        channel = conn.channel()
        for suffix in ("declarations", "receipts", "receipts.quarantine"):
            try:
                channel.queue_delete(f"{prefix}.{suffix}")
            except Exception:
                channel = conn.channel()


# ---- driving a ladder ----------------------------------------------------------------------------

def keys_of(order_no: str) -> dict[str, str]:
    """Business keys of the four filings of a ceb_samples.import_set order."""
    return {
        "order": keys.order_key(EBP, EBC, order_no),
        "payment": keys.payment_key(PAY, f"PAY{order_no}"),
        "waybill": keys.waybill_key(LOGISTICS, f"LN{order_no}"),
        "inventory": keys.inventory_key(f"COP{order_no}"[:20]),
    }


class Ladder:
    """Receipts read back through an adapter until every filing of the orders reached its end."""

    def __init__(self, adapter, order_nos: list[str]):
        self.adapter = adapter
        self.keys = {kind: key for order_no in order_nos for kind, key in
                     ((f"{order_no}:{k}", v) for k, v in keys_of(order_no).items())}
        self.cursor: str | None = None
        self.raws: list = []
        self.unreadable: list = []
        self.statuses: dict[str, list[str]] = {key: [] for key in self.keys.values()}

    def done(self) -> bool:
        return all(FINAL[name.split(":")[1]] in self.statuses[key] for name, key in self.keys.items())

    def run(self, timeout: float = 30.0, pause: float = 0.05, settle: float = 0.0) -> Ladder:
        """Poll until every ladder ended; then, with ``settle``, go on until nothing new came for
        ``settle`` seconds (receipts held back or duplicated arrive after the final one)."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            new = self.adapter.fetch_receipts(self.cursor)
            for raw in new:
                assert self.cursor is None or raw.cursor > self.cursor, (raw.cursor, self.cursor)
                self.raws.append(raw)
                try:
                    entries = parse_receipt(raw.body)
                except ReceiptUnreadable:       # not ours to judge here (the dispatcher quarantines them)
                    self.unreadable.append(raw)
                    continue
                for entry in entries:
                    if entry.business_key in self.statuses:
                        self.statuses[entry.business_key].append(entry.status_code)
            if new:
                self.cursor = new[-1].cursor
            if self.done():
                quiet_since = time.monotonic() if new or quiet_since is None else quiet_since
                if time.monotonic() - quiet_since >= settle:
                    self.adapter.fetch_receipts(self.cursor)   # hand the last ones over
                    return self
            time.sleep(pause)
        raise AssertionError(f"the ladder did not complete in {timeout} s: {self.statuses}")

    def of(self, order_no: str, kind: str) -> list[str]:
        return self.statuses[keys_of(order_no)[kind]]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
