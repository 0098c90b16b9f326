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
import signal
import sys
import threading


def register(subparsers) -> None:
    d = subparsers.add_parser("dispatch", help="the dispatcher: run it, or show its state")
    dsub = d.add_subparsers(dest="dispatch_command", required=True)
    r = dsub.add_parser("run", help="run dispatcher rounds (send, receipts, webhooks) until stopped")
    r.add_argument("--interval", type=float, default=1.0, help="seconds between rounds when idle (default 1)")
    r.add_argument("--until-idle", action="store_true", help="stop once two rounds in a row moved nothing")
    r.add_argument("--owner", help="name of this dispatcher in claims and breaker transitions")
    r.set_defaults(func=cmd_dispatch_run)
    s = dsub.add_parser("status", help="circuit breakers, outbox, webhook deliveries, quarantine counts")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_dispatch_status)

    rc = subparsers.add_parser("receipts", help="receipts")
    rsub = rc.add_subparsers(dest="receipts_command", required=True)
    q = rsub.add_parser("quarantine", help="receipts that could not be applied (all tenants)")
    q.add_argument("--json", action="store_true")
    q.add_argument("--limit", type=int, default=100)
    q.set_defaults(func=cmd_receipts_quarantine)


def cmd_dispatch_run(args) -> int:
    from gateway.runtime import dispatching_gateway

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s dispatch %(levelname)s %(name)s %(message)s")
    gw = dispatching_gateway(owner=args.owner)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log = logging.getLogger("gateway.dispatch")
    log.info("dispatcher %s started (adapters: %s)", gw.dispatcher.owner, ", ".join(gw.adapters))
    idle = 0
    while not stop.is_set():
        try:
            result = gw.dispatcher.run_once()
        except Exception:   # keep dispatching: the database or a side may be back next round
            log.exception("dispatcher round failed")
            stop.wait(args.interval)
            continue
        if result.summary():
            log.info("round: %s", json.dumps(result.summary(), sort_keys=True))
        idle = 0 if result.progress else idle + 1
        if args.until_idle and idle >= 2:
            break
        if not result.progress:
            stop.wait(args.interval)
    log.info("dispatcher %s stopped", gw.dispatcher.owner)
    return 0


def _gateway():
    from gateway.bootstrap import bootstrap

    return bootstrap()


def cmd_dispatch_status(args) -> int:
    status = _gateway().dispatcher.status()
    if args.json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
        return 0
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
    return 0


def cmd_receipts_quarantine(args) -> int:
    from gateway.service.delivery.receipts import quarantine

    rows = quarantine(_gateway().uow_factory, everything=True, limit=args.limit)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("no receipts in quarantine")
        return 0
    for r in rows:
        print(f"#{r['id']} {r['received_at']} {r['adapter']} cursor {r['cursor']} {r['outcome']} "
              f"tenant {r['tenant_id'] or '-'} sha256 {r['sha256'][:16]}…")
        print(f"    {r['reason']}")
    return 0
