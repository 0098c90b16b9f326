"""Building a dispatching gateway from the environment, for the processes that send and receive:
``gateway dispatch run`` (embedded or stand-alone dispatcher) and the Celery worker
(``gateway.worker``). The API nodes use ``bootstrap`` as is.

Delivery settings (all optional; docs/deployment.md):

    GATEWAY_DISPATCH_BATCH               rows claimed per adapter and round            100
    GATEWAY_DISPATCH_LEASE_SECONDS       a claim's lease; keep > 2 × the adapter's      120
                                         connect + read timeout
    GATEWAY_RETRY_BASE_SECONDS           first retry after about this                   1
    GATEWAY_RETRY_MAX_SECONDS            backoff ceiling                                600
    GATEWAY_BREAKER_THRESHOLD            consecutive transport failures that open       5
    GATEWAY_BREAKER_COOLDOWN_SECONDS     open → half-open (doubles per failed probe)    30
    GATEWAY_BREAKER_MAX_COOLDOWN_SECONDS                                                600
    GATEWAY_WEBHOOK_TIMEOUT_SECONDS      per POST                                       10
    GATEWAY_WEBHOOK_MAX_ATTEMPTS         then the delivery is marked failed             15
    GATEWAY_WEBHOOK_RETRY_BASE_SECONDS                                                  2
    GATEWAY_WEBHOOK_RETRY_MAX_SECONDS                                                   3600
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import replace

from gateway.config import ConfigError
from gateway.service.delivery.backoff import Backoff
from gateway.service.delivery.breaker import BreakerPolicy
from gateway.service.dispatch import DeliveryPolicy, Dispatcher

log = logging.getLogger("gateway.runtime")


def _number(env, name: str, default, kind=float, minimum=0):
    text = env.get(name)
    if text in (None, ""):
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {text!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {text!r}")
    return value


def policy_from_env(env=None) -> DeliveryPolicy:
    env = os.environ if env is None else env
    d = DeliveryPolicy()
    return replace(
        d,
        batch_size=_number(env, "GATEWAY_DISPATCH_BATCH", d.batch_size, int, 1),
        lease_seconds=_number(env, "GATEWAY_DISPATCH_LEASE_SECONDS", d.lease_seconds, float, 1),
        backoff=Backoff(base=_number(env, "GATEWAY_RETRY_BASE_SECONDS", d.backoff.base, float, 0.01),
                        factor=d.backoff.factor,
                        cap=_number(env, "GATEWAY_RETRY_MAX_SECONDS", d.backoff.cap, float, 0.01)),
        breaker=BreakerPolicy(
            threshold=_number(env, "GATEWAY_BREAKER_THRESHOLD", d.breaker.threshold, int, 1),
            cooldown_seconds=_number(env, "GATEWAY_BREAKER_COOLDOWN_SECONDS", d.breaker.cooldown_seconds, float, 0.01),
            max_cooldown_seconds=_number(env, "GATEWAY_BREAKER_MAX_COOLDOWN_SECONDS", d.breaker.max_cooldown_seconds,
                                         float, 0.01),
            probe_lease_seconds=_number(env, "GATEWAY_DISPATCH_LEASE_SECONDS", d.breaker.probe_lease_seconds, float, 1)),
        webhook_backoff=Backoff(base=_number(env, "GATEWAY_WEBHOOK_RETRY_BASE_SECONDS", d.webhook_backoff.base, float,
                                             0.01),
                                factor=d.webhook_backoff.factor,
                                cap=_number(env, "GATEWAY_WEBHOOK_RETRY_MAX_SECONDS", d.webhook_backoff.cap, float,
                                            0.01)),
        webhook_timeout_seconds=_number(env, "GATEWAY_WEBHOOK_TIMEOUT_SECONDS", d.webhook_timeout_seconds, float, 0.01),
        webhook_max_attempts=_number(env, "GATEWAY_WEBHOOK_MAX_ATTEMPTS", d.webhook_max_attempts, int, 1),
    )


def dispatching_gateway(env=None, owner: str | None = None):
    """``bootstrap()`` from the environment, with its dispatcher configured from the delivery
    settings above."""
    from gateway.bootstrap import bootstrap
    from gateway.config import Settings

    env = os.environ if env is None else env
    policy = policy_from_env(env)
    try:
        gw = bootstrap(Settings.from_env(env))
    except FileExistsError:
        # several worker processes on one instance folder, all creating the development key at
        # once: another one just wrote it; read it.
        time.sleep(0.5)
        gw = bootstrap(Settings.from_env(env))
    _check_lease(policy, gw.settings.adapter_options)
    gw.dispatcher = Dispatcher(gw.uow_factory, gw.adapters, gw.clock, policy=policy, owner=owner,
                               webhook_poster=gw.dispatcher.webhook_poster,
                               receipt_trust=gw.dispatcher.receipts.trust)
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
