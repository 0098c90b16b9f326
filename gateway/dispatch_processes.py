"""``gateway serve``'s dispatchers, each in a process of its own (``gateway dispatch run``).

Why processes and not a thread of the server: a dispatcher thread competes with the API for the
GIL (the in-process sandbox parses and verifies every message it receives) and its write
transactions ran while requests waited: the embedded server answered 3.5 orders/s with a p99 of
9.3 s. In its own process the dispatcher only shares the database, whose write transactions it
keeps short (one claim, one record per batch; SQLite WAL and a busy timeout let readers and the
API through in between).

Several processes may run at once (leased claims, SKIP LOCKED on PostgreSQL, exclusive
transactions on SQLite), except with the in-process sandbox government: it lives inside the
dispatcher process that sends to it, so one process is started for it whatever was asked.
A process that dies is restarted (after a second), and every one is stopped with the server
(SIGTERM, held by the child until its handlers are in place; on Linux also when the server is
killed: PR_SET_PDEATHSIG).

Once started, the dispatchers may run ``nice`` steps below the server (``dispatch run --nice``,
GATEWAY_DISPATCH_NICE, default 0): on a busy machine the scheduler then gives the API's requests the
CPU first and the dispatcher the rest; the outbox (durable) waits instead, and on a machine loaded by
others a nice dispatcher can starve (why it is not the default). Their start-up runs at the server's
priority.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading

log = logging.getLogger("gateway.dispatch")


class DispatcherProcesses:
    def __init__(self, count: int, interval: float, *, in_process_sandbox: bool = False, env: dict | None = None,
                 nice: int = 0):
        if in_process_sandbox and count > 1:
            log.warning("the in-process sandbox government lives in its dispatcher's process: "
                        "starting 1 dispatcher process, not %s", count)
            count = 1
        self.count = count
        self.interval = interval
        self.nice = nice
        self.env = dict(os.environ if env is None else env)
        self.procs: list[subprocess.Popen | None] = [None] * count
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None

    def command(self, i: int) -> list[str]:
        return [sys.executable, "-m", "gateway.cli", "dispatch", "run", "--interval", str(self.interval),
                "--owner", f"serve-{os.getpid()}-{i}", *(["--nice", str(self.nice)] if self.nice else [])]

    def _spawn(self, i: int) -> None:
        self.procs[i] = subprocess.Popen(self.command(i), env=self.env, stdin=subprocess.DEVNULL,
                                         preexec_fn=_die_with_parent)

    def start(self) -> DispatcherProcesses:
        for i in range(self.count):
            self._spawn(i)
        self._watch = threading.Thread(target=self._supervise, name="dispatcher-supervisor", daemon=True)
        self._watch.start()
        return self

    def _supervise(self) -> None:
        while not self._stop.wait(1.0):
            for i, p in enumerate(self.procs):
                if p is not None and p.poll() is not None and not self._stop.is_set():
                    log.error("dispatcher process %s exited with %s: restarting it", p.pid, p.returncode)
                    self._spawn(i)

    def stop(self, timeout: float = 20.0) -> None:
        self._stop.set()
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.terminate()
        for p in self.procs:
            if p is None:
                continue
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux), so no dispatcher outlives
    a server that was killed; SIGTERM and SIGINT held (blocked, not lost) until ``dispatch run`` has
    its handlers and unblocks them, so a stop during its start-up is a clean stop, not exit -15."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
        except OSError:
            pass
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
