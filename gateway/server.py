"""``gateway serve`` in production: gunicorn (gthread workers) serving the Flask app, plus one
set of dispatcher processes (``gateway dispatch run``, gateway/dispatch_processes.py) that gunicorn's
master starts when it is ready and stops when it exits.

    gunicorn master  (this process: `gateway serve`)
    ├── worker 1..N  (GATEWAY_WEB_WORKERS, each GATEWAY_WEB_THREADS threads): the API
    └── dispatcher 1..M (`gateway dispatch run --owner serve-<pid>-<i>`, GATEWAY_DISPATCH_PROCESSES,
                       unless --no-dispatch)

- Before anything forks, the master reads and checks every setting and bootstraps once (the
  development key, migrations in embedded mode, the key store check): a bad setting is one
  ``error:`` line and exit 2, not N failing workers. Workers build their own engine after the fork.
- SIGTERM / SIGINT to the master: gunicorn stops accepting, lets workers finish their requests
  (``GRACEFUL_TIMEOUT``), then ``on_exit`` sends SIGTERM to the dispatchers, waits for them (each
  stops after its current step) and kills one after ``DISPATCHER_STOP_TIMEOUT``. A dispatcher also
  gets SIGTERM if the master dies without cleaning up (Linux parent-death signal), so nothing is
  left; one that exits on its own while the server runs is started again (logged as an error).
- Prometheus multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` is a fresh folder made here (or the
  one given, emptied) and removed at exit; a dead worker's files are marked dead.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger

from gateway import logs
from gateway.config import Settings
from gateway.dispatch_processes import DispatcherProcesses

GRACEFUL_TIMEOUT = 20
DISPATCHER_STOP_TIMEOUT = 15.0
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
log = logging.getLogger("gateway.server")


def prepare_metrics_dir() -> tuple[Path, bool]:
    """The multiprocess folder (given and emptied, or made): (path, made here). Must run before
    prometheus_client is imported (it reads the variable at import)."""
    given = os.environ.get(METRICS_DIR_VARIABLE)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return path, False
    path = Path(tempfile.mkdtemp(prefix="gateway-metrics-"))
    os.environ[METRICS_DIR_VARIABLE] = str(path)
    return path, True


def write_problem(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn answers a request it cannot parse (a header it refuses, a request line too long)
    itself, before Flask sees it, as text/html. This is that answer as problem+json, like every
    other error of the API (gateway/api/errors.py); it replaces ``gunicorn.util.write_error``."""
    body = json.dumps({"type": "https://gateway.example/problems/malformed-request", "title": reason,
                       "status": status_int, "detail": mesg or reason, "instance": None, "problems": []},
                      ensure_ascii=True).encode("ascii")
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n")
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


class JsonGunicornLogger(GunicornLogger):
    """gunicorn's own lines (booting, workers, signals) in the gateway's log format."""

    log_format = "json"        # set by GatewayServer from the settings

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(logs.formatter(self.log_format))


class GatewayServer(BaseApplication):
    def __init__(self, settings: Settings, bind: str, *, workers: int, threads: int,
                 dispatchers: int, interval: float, in_process_sandbox: bool, metrics_dir: Path, owns_metrics_dir: bool, log_context=None):
        self.settings = settings
        self.options = {
            "bind": bind, "workers": workers, "threads": threads, "worker_class": "gthread",
            "graceful_timeout": GRACEFUL_TIMEOUT, "timeout": 60, "accesslog": None, "errorlog": "-",
            "logger_class": JsonGunicornLogger, "proc_name": "gateway-serve",
            "when_ready": self._when_ready, "on_exit": self._on_exit, "child_exit": self._child_exit,
        }
        self.dispatchers, self.interval, self.in_process_sandbox = dispatchers, interval, in_process_sandbox
        self.children: DispatcherProcesses | None = None
        self.metrics_dir, self.owns_metrics_dir = metrics_dir, owns_metrics_dir
        self.log_context = log_context
        JsonGunicornLogger.log_format = settings.log_format
        super().__init__()

    def load_config(self):
        gunicorn_util.write_error = write_problem        # inherited by the workers at fork
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:    # gunicorn ≥ 27: no control socket in $HOME
            self.cfg.set("control_socket_disable", True)

    def load(self):
        """In each worker, after the fork: its own engine, adapters and app."""
        from gateway.api import create_app
        from gateway.bootstrap import bootstrap
        from gateway.runtime import settle_heap

        logs.configure(self.settings.log_format, provider=self.log_context)
        app = create_app(bootstrap(self.settings), {"METRICS_MULTIPROCESS": True})
        settle_heap()
        return app

    # -- gunicorn server hooks (in the master) ------------------------------------------------------

    def _when_ready(self, server):
        if self.dispatchers:
            self.children = DispatcherProcesses(self.dispatchers, self.interval, in_process_sandbox=self.in_process_sandbox,
                                                nice=self.settings.dispatch_nice).start()
            server.log.info("dispatchers started (pids %s)",
                            ", ".join(str(p.pid) for p in self.children.procs if p is not None))

    def _on_exit(self, server):
        if self.children is not None:
            self.children.stop(DISPATCHER_STOP_TIMEOUT)
            server.log.info("dispatchers stopped (exit %s)",
                            ", ".join(str(p.returncode) for p in self.children.procs if p is not None))
        if self.owns_metrics_dir:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _child_exit(self, server, worker):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
