"""``gateway dispatch run|status`` and ``gateway receipts quarantine``.

    gateway dispatch run [--interval 1] [--until-idle] [--owner NAME]
        a dispatcher process: send due filings, poll receipts, deliver webhooks, round after
        round (any number may run at once against one PostgreSQL database); SIGTERM/SIGINT stop
        it after the current step
    gateway dispatch status [--json]
        circuit breakers (state, failures, cool-down) with their recent transitions, the outbox by
        adapter (pending, due, in flight, in doubt, sent, failed), webhook deliveries, receipts in
        quarantine
    gateway receipts quarantine [--json] [--limit N]
        receipts that could not be applied (unreadable, or matching no filing), every tenant's and
        the tenant-less ones: this command is the operator's view (it needs database access)
"""
from __future__ import annotations

import json
import logging
import os
import signal
import threading

import click

from gateway.logs import configure as configure_logs
from gateway.service.listing import MAX_LIMIT

from .common import OK, settings


@click.group("dispatch")
def dispatch() -> None:
    """The dispatcher: run it, or show its state."""


@click.group("receipts")
def receipts() -> None:
    """Receipts."""


@dispatch.command("run")
@click.option("--interval", type=float, default=1.0, help="seconds between rounds when idle (default 1)")
@click.option("--until-idle", is_flag=True, help="stop once two rounds in a row moved nothing")
@click.option("--owner", help="name of this dispatcher in claims and breaker transitions")
@click.option("--nice", type=click.IntRange(0, 19), default=0,
              help="niceness added once started (`gateway serve`: GATEWAY_DISPATCH_NICE)")
def dispatch_run(interval, until_idle, owner, nice) -> int:
    """Run dispatcher rounds (send, receipts, webhooks) until stopped."""
    from gateway.runtime import dispatching_gateway

    config = settings()        # checked before anything is logged or started
    configure_logs(config.log_format)     # JSON lines (or text), never colour codes (gateway/logs.py)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):       # before the set-up: a stop during it is a clean stop
        signal.signal(sig, lambda *_: stop.set())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})   # held by `gateway serve`
    gw = dispatching_gateway(owner=owner, settings=config)
    if nice:        # after the start-up, so a stop during it is not starved on a busy machine
        os.nice(nice)
    log = logging.getLogger("gateway.dispatch")
    log.info("dispatcher %s started (adapters: %s)", gw.dispatcher.owner, ", ".join(gw.adapters))
    idle = 0
    while not stop.is_set():
        try:
            result = gw.dispatcher.run_once()
        except Exception:   # keep dispatching: the database or a side may be back next round
            log.exception("dispatcher round failed")
            stop.wait(interval)
            continue
        if result.summary():
            log.info("round: %s", json.dumps(result.summary(), sort_keys=True))
        idle = 0 if result.progress else idle + 1
        if until_idle and idle >= 2:
            break
        if not result.progress:
            stop.wait(interval)
    log.info("dispatcher %s stopped", gw.dispatcher.owner)
    return OK


def _gateway():
    from gateway.bootstrap import bootstrap

    return bootstrap(settings())


@dispatch.command("status")
@click.option("--json", "as_json", is_flag=True)
def dispatch_status(as_json) -> int:
    """Circuit breakers, outbox, webhook deliveries, quarantine counts."""
    status = _gateway().dispatcher.status()
    if as_json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
        return OK
    print("circuit breakers:")
    for b in status["breakers"]:
        extra = ""
        if b["state"] == "open":
            extra = f"  probe from {b.get('retry_at')}"
        elif b["state"] == "half_open":
            extra = f"  probing: {b.get('probe_owner')}"
        print(f"  {b['adapter']:<16} {b['state']:<10} consecutive failures {b['consecutive_failures']}{extra}")
        if b.get("last_error"):
            print(f"  {'':<16} last error: {b['last_error']}")
    if status["transitions"]:
        print("recent transitions:")
        for t in status["transitions"]:
            print(f"  {t['at']}  {t['adapter']}: {t['from']} -> {t['to']}  ({t['reason']}) by {t['owner']}")
    print("outbox:")
    for adapter, c in sorted(status["outbox"].items()):
        print(f"  {adapter:<16} pending {c['pending']} (due {c['due']}, in flight {c['in_flight']}, "
              f"in doubt {c['in_doubt']})  sent {c['sent']}  failed {c['failed']}")
    print(f"webhook deliveries: {json.dumps(status['webhook_deliveries'], sort_keys=True)}")
    print(f"receipts: {status['receipts']['quarantined']} quarantined, {status['receipts']['unmatched']} unmatched "
          "(gateway receipts quarantine)")
    return OK


@receipts.command("quarantine")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=100, show_default=True)
def receipts_quarantine(as_json, limit) -> int:
    """Receipts that could not be applied (all tenants)."""
    from gateway.service.delivery.receipts import quarantine

    rows = quarantine(_gateway().uow_factory, everything=True, limit=limit)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return OK
    if not rows:
        print("no receipts in quarantine")
        return OK
    for r in rows:
        print(f"#{r['id']} {r['received_at']} {r['adapter']} cursor {r['cursor']} {r['outcome']} "
              f"tenant {r['tenant_id'] or '-'} sha256 {r['sha256'][:16]}…")
        print(f"    {r['reason']}")
    return OK


COMMANDS = (dispatch, receipts)
