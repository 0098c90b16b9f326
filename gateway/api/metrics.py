"""Prometheus metrics at ``GET /metrics`` and the per-request bookkeeping (request id, JSON log
line, counters).

In the request path (counters and histograms, prometheus_client; multiprocess mode under
gunicorn, where ``gateway serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` and the app config flag
``MULTIPROCESS``):
    gateway_http_requests_total{method,route,status}
    gateway_http_request_duration_seconds{method,route}           histogram
    gateway_orders_total{outcome}     accepted (201), repeated (200), refused (4xx, or batch items)
At scrape time, from the database (gateway.store.gauges, one aggregate query each):
    gateway_database_up, gateway_filings{state}, gateway_outbox_pending{adapter},
    gateway_outbox_oldest_pending_age_seconds{adapter}, gateway_breaker_state{adapter,state},
    gateway_webhook_backlog, gateway_receipts_quarantined{outcome},
    gateway_signing_key_expiry_seconds{tenant,channel}, gateway_certificate_expiry_seconds,
    gateway_dispatch_latency_seconds{stat} and gateway_receipt_latency_seconds{stat} (avg, max over
    the last 300 s; count = filings / receipts in the window)
From the gateway key's PKCS#11 token or signing bridge (GATEWAY_SIGNING_BACKEND), when it is on one:
    gateway_signing_backend_up{backend}   1 when its health check answered ok at this scrape

Access: ``Authorization: Bearer <key>`` where the key's sha256 is GATEWAY_METRICS_KEY_SHA256 or
the operator key's; without a configured key /metrics answers 403 to everyone (metrics name
tenants, adapters and volumes).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import Forbidden

from gateway.store import gauges

from . import health, request_id
from .v1 import _api_key
from .webhooks import _is_operator

bp = Blueprint("metrics", __name__)
log = logging.getLogger("gateway.api.requests")

REQUESTS = CollectorRegistry(auto_describe=True)   # the request-path metrics of this process
HTTP_REQUESTS = Counter("gateway_http_requests", "HTTP requests answered", ["method", "route", "status"],
                        registry=REQUESTS)
HTTP_LATENCY = Histogram("gateway_http_request_duration_seconds", "time to answer a request", ["method", "route"],
                         buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30), registry=REQUESTS)
ORDERS = Counter("gateway_orders", "orders received, by outcome", ["outcome"], registry=REQUESTS)
_ORDER_ENDPOINTS = ("v1.submit_order", "v1.submit_batch")
MULTIPROCESS = "METRICS_MULTIPROCESS"   # app config: True under gunicorn (gateway/server.py)


def init_app(app: Flask) -> None:
    """Request id, timing, counters and one log line per request."""
    request_id.init_app(app)

    @app.before_request
    def _start():
        g.started = time.perf_counter()

    @app.after_request
    def _count(response):
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        HTTP_LATENCY.labels(request.method, route).observe(elapsed)
        if request.endpoint in _ORDER_ENDPOINTS:
            _count_orders(response)
        log.info("%s %s %s", request.method, route, response.status_code,
                 extra={"method": request.method, "route": route, "path": request.path,
                        "status": response.status_code, "duration_ms": round(elapsed * 1000, 2)})
        return response


def log_context() -> dict:
    """For gateway.logs.ContextFilter: the request id and tenant of the request being served."""
    return {"request_id": request_id.current(), "tenant": g.get("tenant_id") if request_id.current() else None}


def _count_orders(response) -> None:
    status = response.status_code
    if status == 201:
        ORDERS.labels("accepted").inc()
    elif status == 200:
        ORDERS.labels("repeated").inc()
    elif status == 207:
        results = (response.get_json(silent=True) or {}).get("results", [])
        for outcome, status_codes in (("accepted", (201,)), ("repeated", (200,)), ("refused", (409, 422))):
            n = sum(1 for r in results if r.get("status") in status_codes)
            if n:
                ORDERS.labels(outcome).inc(n)
    elif 400 <= status < 500 and status not in (401, 403, 429):
        ORDERS.labels("refused").inc()


def _allowed(key: str | None) -> bool:
    if not key:
        return False
    wanted = current_app.extensions["gateway"].settings.metrics_key_sha256
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return bool(wanted and hmac.compare_digest(digest, wanted)) or _is_operator(key)


@bp.get("/metrics")
def metrics():
    if not _allowed(_api_key()):
        raise Forbidden("send the metrics key (GATEWAY_METRICS_KEY_SHA256) or the operator key as a Bearer token")
    registry = CollectorRegistry()
    if current_app.config.get(MULTIPROCESS):
        MultiProcessCollector(registry)       # every worker's counters, from the shared folder
    else:
        registry.register(REQUESTS)
    registry.register(DatabaseCollector(current_app.extensions["gateway"]))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class DatabaseCollector:
    """Gauges read from the database when scraped."""

    def __init__(self, gateway):
        self.gw = gateway

    def describe(self):
        return []

    def collect(self):
        up = GaugeMetricFamily("gateway_database_up", "1 when the database answered this scrape")
        now = self.gw.clock.now()
        try:
            with self.gw.engine.connect() as conn:
                families = list(_database_families(conn, now))
        except SQLAlchemyError as exc:
            log.warning("metrics: database unreachable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families
        cert = self.gw.key.certificate
        expiry = GaugeMetricFamily("gateway_certificate_expiry_seconds", "seconds until the gateway certificate expires")
        expiry.add_metric([], (cert.not_valid_after_utc - now).total_seconds())
        yield expiry
        signing = health.signing_backend_up(self.gw)
        if signing is not None:
            backend_up = GaugeMetricFamily("gateway_signing_backend_up", "1 when the gateway key's token or signing bridge "
                                   "answered its health check at this scrape", labels=["backend"])
            backend_up.add_metric([signing[0]], 1 if signing[1] else 0)
            yield backend_up


def _database_families(conn, now):
    filings = GaugeMetricFamily("gateway_filings", "filings by state", labels=["state"])
    for state, n in sorted(gauges.filings_by_state(conn).items()):
        filings.add_metric([state], n)
    yield filings
    depth = GaugeMetricFamily("gateway_outbox_pending", "filings waiting to be sent", labels=["adapter"])
    age = GaugeMetricFamily("gateway_outbox_oldest_pending_age_seconds", "age of the oldest waiting filing",
                            labels=["adapter"])
    for adapter, (n, oldest) in sorted(gauges.outbox_pending(conn).items()):
        depth.add_metric([adapter], n)
        age.add_metric([adapter], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    yield depth
    yield age
    breakers = GaugeMetricFamily("gateway_breaker_state", "1 for the state each adapter's breaker is in",
                                 labels=["adapter", "state"])
    for adapter, state in sorted(gauges.breakers(conn).items()):
        for candidate in ("closed", "open", "half_open"):
            breakers.add_metric([adapter, candidate], 1 if state == candidate else 0)
    yield breakers
    yield GaugeMetricFamily("gateway_webhook_backlog", "webhook deliveries waiting", value=gauges.webhook_backlog(conn))
    quarantine = GaugeMetricFamily("gateway_receipts_quarantined", "receipts needing an operator", labels=["outcome"])
    for outcome, n in sorted(gauges.receipts_quarantined(conn).items()):
        quarantine.add_metric([outcome], n)
    yield quarantine
    keys = GaugeMetricFamily("gateway_signing_key_expiry_seconds", "seconds until the tenant's latest key expires",
                             labels=["tenant", "channel"])
    for (tenant, channel), not_after in sorted(gauges.key_expiry(conn).items()):
        keys.add_metric([tenant, channel], (not_after - now).total_seconds())
    yield keys
    for name, (avg, worst, count) in gauges.recent_latencies(conn, now).items():
        what = "filing stored → sent" if name == "dispatch" else "sent → receipt received"
        family = GaugeMetricFamily(f"gateway_{name}_latency_seconds",
                                   f"{what}, over the last {gauges.LATENCY_WINDOW_SECONDS} s", labels=["stat"])
        family.add_metric(["avg"], float(avg or 0))
        family.add_metric(["max"], float(worst or 0))
        family.add_metric(["count"], count)
        yield family
