"""Building a dispatching gateway for the processes that send and receive: ``gateway dispatch run``
(embedded or stand-alone dispatcher) and the Celery worker (``gateway.worker``). The API nodes use
``bootstrap`` as is; both take their delivery settings (batch, lease, backoff, breaker, webhooks)
from the one settings object (gateway.config, docs/configuration.md).
"""
from __future__ import annotations

import gc
import logging
import time
from collections.abc import Mapping

from gateway.bootstrap import Gateway, bootstrap
from gateway.config import Settings
from gateway.service.dispatch import DeliveryPolicy, Dispatcher

log = logging.getLogger("gateway.runtime")


def settle_heap() -> None:
    """Once a process has started (modules, mappers, the app, its gateway): collect, then freeze what is
    left, so that the garbage collector's full passes stop walking the start-up objects, which live as
    long as the process (docs/performance.md "Session 7: garbage collection"). What is made later is collected as
    before. ``gateway dispatch run``, the Celery worker and each gunicorn worker of ``gateway serve``."""
    gc.collect()
    gc.freeze()


def dispatching_gateway(env: Mapping[str, str] | None = None, owner: str | None = None,
                        settings: Settings | None = None) -> Gateway:
    """``bootstrap()`` from the settings (read from ``env`` unless given), with a dispatcher named
    ``owner``."""
    settings = settings or Settings.from_env(env)
    try:
        gw = bootstrap(settings)
    except FileExistsError:
        # several worker processes on one instance folder, all creating the development key at
        # once: another one just wrote it; read it.
        time.sleep(0.5)
        gw = bootstrap(settings)
    policy = gw.dispatcher.policy
    _check_lease(policy, settings.adapter_options)
    gw.dispatcher = Dispatcher(gw.uow_factory, gw.adapters, gw.clock, policy=policy, owner=owner,
                               webhook_poster=gw.dispatcher.webhook_poster,
                               receipt_trust=gw.dispatcher.receipts.trust,
                               webhook_secrets=gw.dispatcher.webhooks.secrets,
                               summaries=gw.dispatcher.summaries)
    settle_heap()
    return gw


def _check_lease(policy: DeliveryPolicy, options: dict) -> None:
    try:
        send_time = float(options.get("connect_timeout", 5)) + float(options.get("read_timeout", 30))
    except (TypeError, ValueError):
        return
    if policy.lease_seconds < 2 * send_time:
        log.warning("GATEWAY_DISPATCH_LEASE_SECONDS=%s is less than twice the adapter's connect + read timeout "
                    "(%s s): a slow send may outlive its lease and be looked up (and resent) by another "
                    "dispatcher", policy.lease_seconds, send_time)
