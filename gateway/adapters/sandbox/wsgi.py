"""A WSGI face of the sandbox process on 127.0.0.1: Werkzeug's threaded server, restartable on
the same port (for "refuse" downtime windows), optionally TLS with required client certificates."""
from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, make_server

log = logging.getLogger("gateway.sandbox")


def tls_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(str(client_ca))
    return context


def delay_or_drop(server, face: str, operation: str, message_id, body, action, environ, start_response):
    """A scripted fault's delay, then, for a scripted drop: the exchange recorded, the connection closed
    without an answer, and the empty body to return (None when the request goes on)."""
    if action.delay:
        time.sleep(action.delay)
    if action.kind in ("drop", "down_refuse"):
        server.record_wire(face, operation, message_id, body, None, action.kind)
        drop_connection(environ)
        start_response("500 Dropped", [("Content-Length", "0")])
        return []
    return None


def drop_connection(environ) -> None:
    """Close the client's connection without an answer (the client sees the connection drop)."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class WsgiFace:
    def __init__(self, name: str, app, host: str = "127.0.0.1", port: int = 0,
                 ssl_context: ssl.SSLContext | None = None):
        self.name = name
        self.app = app
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.refusing_until = 0.0

    def start(self) -> None:
        with self._lock:
            last: OSError | None = None
            for _ in range(50):      # the port may linger for a moment after a restart
                try:
                    self._server = make_server(self.host, self.port, self.app, threaded=True,
                                               ssl_context=self.ssl_context)
                    break
                except (OSError, SystemExit) as exc:
                    last = exc if isinstance(exc, OSError) else OSError(str(exc))
                    if self.port == 0:
                        raise
                    time.sleep(0.1)
            else:
                raise last or OSError(f"cannot listen on {self.host}:{self.port}")
            assert self._server is not None
            self.port = self._server.server_port
            self._server.timeout = 0.2
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                            name=f"sandbox-{self.name}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def refuse_for(self, seconds: float) -> None:
        """Stop listening (connections are refused) for ``seconds``, then listen again on the same port."""
        self.refusing_until = time.monotonic() + seconds

        def cycle():
            self.stop()
            log.warning("sandbox %s face: refusing connections for %.1f s (scripted downtime)", self.name, seconds)
            time.sleep(max(0.0, self.refusing_until - time.monotonic()))
            self.start()
            log.warning("sandbox %s face: listening again on port %d", self.name, self.port)

        threading.Thread(target=cycle, name=f"sandbox-{self.name}-downtime", daemon=True).start()

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"
