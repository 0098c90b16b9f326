"""``gateway sandbox serve``: the sandbox government as its own process.

    gateway sandbox serve --http 8090 --soap 8091 \\
        --amqp-url amqp://guest:guest@127.0.0.1:5672// --queue-prefix sandbox \\
        --files /var/tmp/dxp --script faults.json

Port 0 picks a free port. When every face is up, one JSON line goes to stdout, e.g.
``{"ready": true, "http": 40211, "soap": 40213, "amqp": {...}, "files": "/var/tmp/dxp", "pid": 123}``;
logs go to stderr. SIGTERM / SIGINT stop it. The --script file holds the business script
(SandboxScript keys) and, under "transport", the transport faults (adapters/sandbox/faults.py).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import click

from .common import BAD_INPUT, FAILED, OK, fail


@click.group("sandbox")
def sandbox() -> None:
    """The sandbox government (simulated single window)."""


@sandbox.command("serve")
@click.option("--host", default="127.0.0.1", help="address of the HTTP and SOAP faces (default 127.0.0.1)")
@click.option("--http", "http_port", type=int, default=0, metavar="PORT",
              help="HTTP face with /health and /admin (always on; 0 = any free port)")
@click.option("--soap", "soap_port", type=int, default=None, metavar="PORT", help="SOAP face (0 = any free port)")
@click.option("--amqp-url", help="AMQP face: broker URL, e.g. amqp://guest:guest@127.0.0.1:5672//")
@click.option("--queue-prefix", default="sandbox",
              help="AMQP queues <prefix>.declarations and <prefix>.receipts (default sandbox)")
@click.option("--files", metavar="DIR", help="file-drop face: DIR/OutBox in, DIR/InBox out")
@click.option("--script", metavar="FILE.json", help="business script and transport faults")
@click.option("--tls-cert", help="serve HTTP and SOAP over TLS with this certificate (PEM)")
@click.option("--tls-key", help="private key of --tls-cert (PEM)")
@click.option("--tls-client-ca", help="require client certificates issued by this CA (PEM): mTLS")
@click.option("--poll-interval", type=float, default=0.1,
              help="seconds between rounds of the AMQP and file faces (default 0.1)")
@click.option("--no-signatures", is_flag=True, help="accept unsigned declarations")
def serve(**options) -> int:
    """Run the sandbox government as its own process (HTTP, SOAP, AMQP, files)."""
    return serve_sandbox(SimpleNamespace(**options))


def serve_sandbox(args) -> int:
    from gateway.adapters.sandbox import SandboxGovernment, SandboxScript
    from gateway.adapters.sandbox.faults import TransportFaults
    from gateway.adapters.sandbox.http_face import create_http_app
    from gateway.adapters.sandbox.server import SandboxServer
    from gateway.adapters.sandbox.wsgi import WsgiFace, tls_context
    from gateway.ports import SystemClock, UuidGenerator

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s sandbox %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    script, faults = SandboxScript(), TransportFaults()
    if args.script:
        try:
            data = json.loads(Path(args.script).read_text("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("the script file must hold a JSON object")
            faults.replace(data.pop("transport", {}) or {})
            script = SandboxScript.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return fail(BAD_INPUT, f"sandbox serve: bad --script {args.script}: {exc}")
    if bool(args.tls_cert) != bool(args.tls_key):
        return fail(BAD_INPUT, "sandbox serve: --tls-cert and --tls-key go together")
    context = None
    if args.tls_cert:
        context = tls_context(Path(args.tls_cert), Path(args.tls_key),
                              Path(args.tls_client_ca) if args.tls_client_ca else None)

    government = SandboxGovernment(SystemClock(), UuidGenerator(), script,
                                   require_signatures=not args.no_signatures)
    server = SandboxServer(government, faults)
    ready: dict = {"ready": True}
    started: list = []
    try:
        http = WsgiFace("http", create_http_app(server), args.host, args.http_port, context)
        http.start()
        started.append(http)
        server.faces["http"] = http
        ready["http"] = http.port
        ready["scheme"] = http.scheme
        if args.soap_port is not None:
            from gateway.adapters.sandbox.soap_face import create_soap_app

            soap = WsgiFace("soap", create_soap_app(server), args.host, args.soap_port, context)
            soap.start()
            started.append(soap)
            server.faces["soap"] = soap
            ready["soap"] = soap.port
        if args.amqp_url:
            from gateway.adapters.sandbox.dxp_faces import AmqpFace

            amqp = AmqpFace(server, args.amqp_url, args.queue_prefix, poll_interval=args.poll_interval)
            amqp.start()
            started.append(amqp)
            server.faces["amqp"] = amqp
            ready["amqp"] = {"declarations": amqp.declarations, "receipts": amqp.receipts}
        if args.files:
            from gateway.adapters.sandbox.dxp_faces import FilesFace

            files = FilesFace(server, Path(args.files).resolve(), poll_interval=args.poll_interval)
            files.start()
            started.append(files)
            server.faces["files"] = files
            ready["files"] = {"outbox": str(files.outbox), "inbox": str(files.inbox)}
    except Exception as exc:
        fail(FAILED, f"sandbox serve: cannot start: {type(exc).__name__}: {exc}")
        for face in reversed(started):
            face.stop()
        return FAILED

    ready["pid"] = os.getpid()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(json.dumps(ready), flush=True)
    logging.getLogger("gateway.sandbox").info("serving: %s", json.dumps(ready))
    while not stop.wait(0.5):
        pass
    for face in reversed(started):
        try:
            face.stop()
        except Exception:
            pass
    return OK


COMMANDS = (sandbox,)
