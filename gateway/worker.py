"""Distributed mode: the dispatcher's steps as Celery tasks over RabbitMQ (or Redis).

    celery -A gateway.worker worker --loglevel INFO          # as many as you like, on any machine
    celery -A gateway.worker beat --loglevel INFO            # exactly one: the schedule

Tasks (each is one step of ``gateway.service.dispatch.Dispatcher``; safe to run in parallel on any
number of workers because every row is claimed with a lease in PostgreSQL, never held in memory):

    gateway.dispatch_round     send due filings (breaker, lookups, backoff)
    gateway.poll_receipts      fetch receipts, store raw, apply
    gateway.deliver_webhooks   POST due webhook events

Beat schedules all three every ``GATEWAY_DISPATCH_INTERVAL`` seconds (default 1); a tick that waited
in the queue longer than ``GATEWAY_TASK_EXPIRES`` (default 10 × the interval) is dropped, so a
backlog never builds up while workers are away. Workers hold no state: the database is the truth,
the broker only says "have a look now".

Settings: the one settings object of ``gateway.config`` (docs/configuration.md), read and checked
when this module is imported: ``GATEWAY_BROKER_URL`` (default amqp://guest:guest@127.0.0.1:5672//;
redis://... works too), ``GATEWAY_QUEUE`` (default "gateway"), ``GATEWAY_DATABASE_URL`` (PostgreSQL),
the adapter, signing and delivery settings. A bad setting stops the worker with one line naming it.
"""
from __future__ import annotations

import logging
import threading
import time

from celery import Celery
from celery.signals import worker_process_shutdown

from gateway.config import ConfigError, Settings
from gateway.runtime import dispatching_gateway
from gateway.service.dispatch import RoundResult

try:
    SETTINGS = Settings.from_env()
except ConfigError as exc:
    raise SystemExit(f"error: {exc}") from None

BROKER_URL = SETTINGS.broker_url
QUEUE = SETTINGS.queue
INTERVAL = SETTINGS.dispatch_interval
TASK_BUDGET = SETTINGS.task_budget_seconds
EXPIRES = SETTINGS.task_expiry

log = logging.getLogger("gateway.worker")

app = Celery("gateway", broker=BROKER_URL)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    task_acks_late=True,               # a worker that dies mid-task: the message goes to another
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    timezone="UTC",
    beat_schedule={
        name: {"task": f"gateway.{name}", "schedule": INTERVAL, "options": {"expires": EXPIRES}}
        for name in ("dispatch_round", "poll_receipts", "deliver_webhooks")
    },
)

_lock = threading.Lock()
_gw = None


def gateway():
    """This process's gateway, built on first use (after the fork, so no connection is shared
    between worker processes)."""
    global _gw
    with _lock:
        if _gw is None:
            _gw = dispatching_gateway(settings=SETTINGS)
            log.info("worker gateway ready: dispatcher %s, adapters %s", _gw.dispatcher.owner, list(_gw.adapters))
        return _gw


def _step(method: str, repeat: bool = False) -> dict:
    """One step; with ``repeat``, again while it still moves rows, for up to TASK_BUDGET seconds
    (so a backlog drains at full speed between two beat ticks)."""
    result = RoundResult()
    deadline = time.monotonic() + TASK_BUDGET
    while True:
        before = result.sent + result.failed + result.retried + result.webhooks_delivered + result.webhooks_retried
        getattr(gateway().dispatcher, method)(result)
        after = result.sent + result.failed + result.retried + result.webhooks_delivered + result.webhooks_retried
        if not repeat or after == before or time.monotonic() > deadline:
            break
    summary = result.summary()
    if summary:
        log.info("%s: %s", method, summary)
    return summary


@app.task(name="gateway.dispatch_round")
def dispatch_round() -> dict:
    return _step("send_due", repeat=True)


@app.task(name="gateway.poll_receipts")
def poll_receipts() -> dict:
    return _step("poll_receipts")


@app.task(name="gateway.deliver_webhooks")
def deliver_webhooks() -> dict:
    return _step("deliver_webhooks", repeat=True)


@worker_process_shutdown.connect
def _dispose(**_):
    if _gw is not None:
        _gw.engine.dispose()
