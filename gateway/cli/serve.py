"""``gateway serve`` (the HTTP API and its dispatcher processes); ``gateway tenant`` is in tenants.py.

``serve`` reads and checks every setting before it listens: a bad delivery setting refuses to start
exactly as ``gateway dispatch run`` does (one ``error:`` line, exit 2).

- ``gateway serve``: gunicorn with GATEWAY_WEB_WORKERS workers of GATEWAY_WEB_THREADS threads and
  GATEWAY_DISPATCH_PROCESSES dispatcher processes (gateway/server.py, gateway/dispatch_processes.py);
  SIGTERM stops all of them.
- ``gateway serve --dev``: Flask's development server with the reloader, and the dispatcher processes
  started by the reloaded child (for working on the code, never for traffic).
"""
from __future__ import annotations

import signal
import sys

import click
from werkzeug.serving import is_running_from_reloader

from .common import OK, settings


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--interval", type=float, default=1.0, show_default=True, help="seconds between dispatcher rounds")
@click.option("--no-dispatch", is_flag=True, help="run the API only (dispatchers run elsewhere)")
@click.option("--dispatchers", type=click.IntRange(min=1), default=None, show_default="GATEWAY_DISPATCH_PROCESSES",
              help="dispatcher processes started with the server")
@click.option("--workers", type=click.IntRange(min=1), help="gunicorn workers (default GATEWAY_WEB_WORKERS)")
@click.option("--threads", type=click.IntRange(min=1), help="threads per worker (default GATEWAY_WEB_THREADS)")
@click.option("--dev", is_flag=True, help="Flask's reloading development server instead of gunicorn")
def serve(host, port, interval, no_dispatch, dispatchers, workers, threads, dev) -> int:
    """Run the HTTP API (gunicorn) and its dispatcher processes."""
    from gateway.adapters.sandbox import SandboxGovernment
    from gateway.bootstrap import bootstrap

    config = settings(web_workers=workers, web_threads=threads)
    count = 0 if no_dispatch else (config.dispatch_processes if dispatchers is None else dispatchers)
    if dev:
        return _serve_dev(config, host, port, interval, count)
    from gateway import server

    gw = bootstrap(config)        # checks, development key, migrations: once, before the fork
    sandbox = any(isinstance(a, SandboxGovernment) for a in gw.adapters.values())
    gw.engine.dispose()
    metrics_dir, owned = server.prepare_metrics_dir()   # before prometheus_client is imported
    from gateway.api.metrics import log_context
    from gateway.logs import configure

    configure(config.log_format, provider=log_context)
    server.GatewayServer(config, f"{host}:{port}", workers=config.web_workers, threads=config.web_threads,
                         dispatchers=count, interval=interval, in_process_sandbox=sandbox,
                         metrics_dir=metrics_dir, owns_metrics_dir=owned, log_context=log_context).run()
    return OK


def _serve_dev(config, host, port, interval, count) -> int:
    from gateway.adapters.sandbox import SandboxGovernment
    from gateway.api import create_app
    from gateway.api.metrics import log_context
    from gateway.api.wsgi_server import QuietHandler
    from gateway.bootstrap import bootstrap
    from gateway.dispatch_processes import DispatcherProcesses
    from gateway.logs import configure

    configure(config.log_format, provider=log_context)
    gw = bootstrap(config)
    app = create_app(gw)
    sandbox = any(isinstance(a, SandboxGovernment) for a in gw.adapters.values())
    # the reloader runs the app in a child process (WERKZEUG_RUN_MAIN): the dispatchers belong to it
    children = DispatcherProcesses(count if is_running_from_reloader() else 0, interval,
                                   in_process_sandbox=sandbox, nice=config.dispatch_nice).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))    # so the dispatchers are stopped below
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=True, request_handler=QuietHandler)
    finally:
        children.stop()
    return OK


COMMANDS = (serve,)
