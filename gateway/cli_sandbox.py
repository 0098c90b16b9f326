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
import signal
import sys
import threading
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("sandbox", help="the sandbox government (simulated single window)")
    sub = p.add_subparsers(dest="sandbox_command", required=True)
    s = sub.add_parser("serve", help="run the sandbox government as its own process (HTTP, SOAP, AMQP, files)")
    s.add_argument("--host", default="127.0.0.1", help="address of the HTTP and SOAP faces (default 127.0.0.1)")
    s.add_argument("--http", type=int, default=0, metavar="PORT",
                   help="HTTP face with /health and /admin (always on; 0 = any free port)")
    s.add_argument("--soap", type=int, default=None, metavar="PORT", help="SOAP face (0 = any free port)")
    s.add_argument("--amqp-url", help="AMQP face: broker URL, e.g. amqp://guest:guest@127.0.0.1:5672//")
    s.add_argument("--queue-prefix", default="sandbox",
                   help="AMQP queues <prefix>.declarations and <prefix>.receipts (default sandbox)")
    s.add_argument("--files", metavar="DIR", help="file-drop face: DIR/OutBox in, DIR/InBox out")
    s.add_argument("--script", metavar="FILE.json", help="business script and transport faults")
    s.add_argument("--tls-cert", help="serve HTTP and SOAP over TLS with this certificate (PEM)")
    s.add_argument("--tls-key", help="private key of --tls-cert (PEM)")
    s.add_argument("--tls-client-ca", help="require client certificates issued by this CA (PEM): mTLS")
    s.add_argument("--poll-interval", type=float, default=0.1,
                   help="seconds between rounds of the AMQP and file faces (default 0.1)")
    s.add_argument("--no-signatures", action="store_true", help="accept unsigned declarations")
    s.set_defaults(func=cmd_sandbox_serve)


def cmd_sandbox_serve(args) -> int:
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
            print(f"gateway sandbox serve: bad --script {args.script}: {exc}", file=sys.stderr)
            return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        print("gateway sandbox serve: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    context = None
    if args.tls_cert:
        context = tls_context(Path(args.tls_cert), Path(args.tls_key),
                              Path(args.tls_client_ca) if args.tls_client_ca else None)

    government = SandboxGovernment(SystemClock(), UuidGenerator(), script,
                                   require_signatures=not args.no_signatures)
    server = SandboxServer(government, faults)
    ready: dict = {"ready": True}
    started = []
    try:
        http = WsgiFace("http", create_http_app(server), args.host, args.http, context)
        http.start()
        started.append(http)
        server.faces["http"] = http
        ready["http"] = http.port
        ready["scheme"] = http.scheme
        if args.soap is not None:
            from gateway.adapters.sandbox.soap_face import create_soap_app

            soap = WsgiFace("soap", create_soap_app(server), args.host, args.soap, context)
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
        print(f"gateway sandbox serve: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        for face in reversed(started):
            face.stop()
        return 1

    import os

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
    return 0


def main(argv=None) -> int:
    """``python -m gateway.cli_sandbox serve ...``: the same command without the rest of the CLI."""
    import argparse

    parser = argparse.ArgumentParser(prog="gateway sandbox")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sandbox", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
