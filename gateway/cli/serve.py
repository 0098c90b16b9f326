"""``gateway serve`` (the HTTP API with its dispatcher processes); ``gateway tenant`` is in tenants.py.
``serve`` reads and checks every setting before it listens: a bad delivery setting refuses to start
exactly as ``gateway dispatch run`` does (one ``error:`` line, exit 2)."""
from __future__ import annotations

import signal
import sys

import click

from .common import OK, settings


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--interval", type=float, default=1.0, show_default=True, help="seconds between dispatcher rounds")
@click.option("--no-dispatch", is_flag=True, help="run the API only (dispatchers run elsewhere)")
@click.option("--dispatchers", type=click.IntRange(min=1), default=None, show_default="GATEWAY_DISPATCH_PROCESSES",
              help="dispatcher processes started with the server")
def serve(host, port, interval, no_dispatch, dispatchers) -> int:
    """Run the HTTP API with its dispatcher processes (gateway/dispatch_processes.py)."""
    from gateway.adapters.sandbox import SandboxGovernment
    from gateway.api import create_app
    from gateway.api.wsgi_server import QuietHandler
    from gateway.bootstrap import bootstrap
    from gateway.dispatch_processes import DispatcherProcesses

    config = settings()
    gw = bootstrap(config)
    app = create_app(gw)
    dispatchers = config.dispatch_processes if dispatchers is None else dispatchers
    sandbox = any(isinstance(a, SandboxGovernment) for a in gw.adapters.values())
    children = DispatcherProcesses(0 if no_dispatch else dispatchers, interval, in_process_sandbox=sandbox).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))    # so the dispatchers are stopped below
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False, request_handler=QuietHandler)
    finally:
        children.stop()
    return OK


COMMANDS = (serve,)
