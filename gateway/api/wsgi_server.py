"""The built-in HTTP server of ``gateway serve`` (Werkzeug's), told to name no software version:
its ``Server`` header is just ``gateway`` (Werkzeug would send ``Werkzeug/x.y Python/x.y``).
``serve_in_thread`` runs an app on 127.0.0.1 for the live-server tests (schemathesis, the generated
client)."""
from __future__ import annotations

import threading

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

SERVER_NAME = "gateway"


class QuietHandler(WSGIRequestHandler):
    def version_string(self) -> str:
        return SERVER_NAME


def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0) -> tuple[BaseWSGIServer, threading.Thread]:
    """Start ``app`` on a free port (``server.server_port``); stop it with ``server.shutdown()``."""
    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="api-server", daemon=True)
    thread.start()
    return server, thread
