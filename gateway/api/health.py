"""Probes for the load balancer and the orchestrator (no key: they say nothing secret).

    GET /healthz   200 {"status": "ok"} while the process answers (liveness)
    GET /readyz    200 {"status": "ready", "checks": {...}} when the database answers, every
                   adapter reports healthy, no circuit breaker is open and the gateway key's token
                   or signing bridge (GATEWAY_SIGNING_BACKEND) answers; else 503
                   {"status": "not ready", "reasons": [...]}, one short line per failed check

Reasons never quote connection strings or raw driver errors (the log has those). Adapter health
checks run in parallel, each bounded by ``ADAPTER_HEALTH_TIMEOUT`` seconds.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from gateway.store import gauges

from .contract import doc

bp = Blueprint("health", __name__)
log = logging.getLogger("gateway.api.health")
ADAPTER_HEALTH_TIMEOUT = 3.0
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="adapter-health")


@bp.get("/healthz")
@doc("The process is up", auth=None, tags=("operations",), responses={200: {"type": "object"}})
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
@doc("Ready for traffic: database reachable, adapters healthy, no breaker open (503 with the reasons "
     "otherwise)", auth=None, tags=("operations",), responses={200: {"type": "object"}, 503: {"type": "object"}})
def readyz():
    gw = current_app.extensions["gateway"]
    reasons: list[str] = []
    checks: dict = {}
    try:
        with gw.engine.connect() as conn:
            gauges.ping(conn)
            states = gauges.breakers(conn)
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        log.warning("readyz: database unreachable: %s", exc)
        checks["database"] = "unreachable"
        reasons.append("database unreachable")
        states = {}
    for adapter, state in sorted(states.items()):
        checks[f"breaker:{adapter}"] = state
        if state == "open":
            reasons.append(f"circuit breaker of adapter {adapter!r} is open")
    futures = {f"adapter:{name}": _pool.submit(adapter.health) for name, adapter in gw.adapters.items()}
    backend = signing_backend(gw)
    if backend is not None:
        futures["signing"] = _pool.submit(backend.health)
    for name, future in futures.items():
        problem = health_problem(name, future)
        checks[name] = "ok" if problem is None else "failing"
        if problem:
            reasons.append(f"adapter {name.partition(':')[2]!r} {problem}" if name.startswith("adapter:")
                           else f"the gateway key's signing backend {problem}")
    if reasons:
        return jsonify(status="not ready", reasons=reasons, checks=checks), 503
    return jsonify(status="ready", checks=checks)


def signing_backend(gw):
    """The PKCS#11 token or signing bridge holding the gateway key (a TokenKey's backend), or None
    when the key is in software."""
    return getattr(gw.key, "backend", None)


def health_problem(name: str, future) -> str | None:
    """None when the health check running in ``future`` answered ok within ADAPTER_HEALTH_TIMEOUT, else
    one short reason (the exception itself goes to the log only)."""
    try:
        ok = bool(future.result(timeout=ADAPTER_HEALTH_TIMEOUT).get("ok"))
        return None if ok else "reports unhealthy"
    except FutureTimeout:
        return f"health check took over {ADAPTER_HEALTH_TIMEOUT:g} s"
    except Exception as exc:   # an adapter's health check failing is a reason, not a 500
        log.warning("health: %s health check failed: %s", name, exc)
        return "health check failed"


def signing_backend_up(gw) -> tuple[str, bool] | None:
    """(the backend's kind, whether it answered) for the gateway key's token or bridge; None in software."""
    backend = signing_backend(gw)
    if backend is None:
        return None
    return gw.settings.signing_backend, health_problem("signing", _pool.submit(backend.health)) is None
