"""Operations on a real database (SQLite and PostgreSQL) through Flask's test client: /healthz,
/readyz (database down, breaker open), /metrics (parsed with prometheus_client's own parser),
X-Request-Id, JSON log lines with request id and tenant, and `gateway db upgrade|current` with
the migration policy (SQLite migrates itself, PostgreSQL refuses to start behind the code)."""
from __future__ import annotations

import hashlib
import io
import json
import logging
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway import logs
from gateway.api import create_app
from gateway.api.metrics import log_context
from gateway.bootstrap import bootstrap
from gateway.config import ConfigError, Settings
from gateway.service.delivery.breaker import BreakerPolicy
from gateway.service.dispatch import DeliveryPolicy
from gateway.store.db import make_engine
from tests.delivery_helpers import line_gateway
from tests.helpers import add_tenant, fixture_text, make_gateway

OPERATOR_KEY = "operator-key-for-tests"
METRICS_KEY = "metrics-key-for-tests"


@pytest.fixture
def env(tmp_path, db_url, signing_key):
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    app = create_app(gw, {"TESTING": True, "GATEWAY_OPERATOR_KEY_SHA256": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()})
    tenant_id, key = add_tenant(gw)
    return gw, app.test_client(), tenant_id, {"Authorization": f"Bearer {key}"}


def post_order(client, headers, name="1210-single-line.json", **extra):
    return client.post("/v1/orders", data=fixture_text(name).encode(),
                       headers={**headers, "Content-Type": "application/json", **extra})


def scrape(client, key=OPERATOR_KEY) -> dict:
    """{(sample name, frozenset(labels)): value} of one /metrics answer."""
    r = client.get("/metrics", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.data
    assert r.content_type.startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.get_data(as_text=True)) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# ---- health and readiness ------------------------------------------------------------------------

def test_healthz_and_readyz_answer_when_everything_is_up(env):
    gw, client, _, _ = env
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "adapter:sandbox": "ok"}


def test_readyz_is_503_naming_the_database_when_it_is_unreachable(env):
    gw, client, _, _ = env
    gw.engine = make_engine("postgresql://postgres@127.0.0.1:1/nowhere")     # nothing listens on port 1
    ready = client.get("/readyz")
    assert ready.status_code == 503
    body = ready.get_json()
    assert body["status"] == "not ready" and body["reasons"] == ["database unreachable"]
    assert "127.0.0.1" not in ready.get_data(as_text=True)          # no connection string in the answer
    assert client.get("/healthz").status_code == 200                 # alive all the same


def test_readyz_is_503_while_a_circuit_breaker_is_open(tmp_path, db_url, signing_key):
    policy = DeliveryPolicy(breaker=BreakerPolicy(threshold=1, cooldown_seconds=3600))
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key, policy=policy)
    tenant, _ = add_tenant(gw)
    gw.submit(tenant, fixture_text("1210-single-line.json"))
    client = create_app(gw, {"TESTING": True}).test_client()
    assert client.get("/readyz").status_code == 200
    line.down_until = clock.now() + timedelta(hours=2)
    gw.dispatcher.run_once()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    reasons = ready.get_json()["reasons"]
    assert "circuit breaker of adapter 'sandbox' is open" in reasons
    assert "adapter 'sandbox' reports unhealthy" in reasons
    assert ready.get_json()["checks"]["breaker:sandbox"] == "open"


# ---- metrics -------------------------------------------------------------------------------------

def test_metrics_are_refused_without_a_metrics_or_operator_key(env):
    gw, client, _, tenant = env
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers=tenant).status_code == 403          # a tenant key is not enough
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403


def test_metrics_key_setting_opens_metrics_and_nothing_else(tmp_path, sqlite_url, signing_key):
    settings = Settings(instance_dir=tmp_path / "instance", database_url=sqlite_url,
                        metrics_key_sha256=hashlib.sha256(METRICS_KEY.encode()).hexdigest())
    gw = bootstrap(settings, key=signing_key)
    client = create_app(gw, {"TESTING": True}).test_client()
    assert value(scrape(client, METRICS_KEY), "gateway_database_up") == 1
    assert client.get("/v1/dispatch/status", headers={"Authorization": f"Bearer {METRICS_KEY}"}).status_code == 403


def test_metrics_after_a_few_orders(env):
    gw, client, _, tenant = env
    before = scrape(client)
    assert post_order(client, tenant).status_code == 201
    assert post_order(client, tenant, "9610-air-japan-cosmetics.json").status_code == 201
    assert post_order(client, tenant).status_code == 200                          # the same order again
    assert client.post("/v1/orders", data=b'{"order_no": "X"}',
                       headers={**tenant, "Content-Type": "application/json"}).status_code == 422
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("gateway_orders_total", outcome="accepted") == 2
    assert delta("gateway_orders_total", outcome="repeated") == 1
    assert delta("gateway_orders_total", outcome="refused") == 1
    assert delta("gateway_http_requests_total", method="POST", route="/v1/orders", status="201") == 2
    assert delta("gateway_http_requests_total", method="POST", route="/v1/orders", status="422") == 1
    assert delta("gateway_http_request_duration_seconds_count", method="POST", route="/v1/orders") == 4
    assert delta("gateway_http_request_duration_seconds_bucket", method="POST", route="/v1/orders", le="+Inf") == 4
    assert value(after, "gateway_database_up") == 1
    total_filings = sum(v for (name, _), v in after.items() if name == "gateway_filings")
    assert total_filings >= 8 and value(after, "gateway_filings", state="pending") == total_filings
    pending = value(after, "gateway_outbox_pending", adapter="sandbox")
    assert pending == total_filings                                    # nothing dispatched yet
    assert value(after, "gateway_outbox_oldest_pending_age_seconds", adapter="sandbox") >= 0
    assert value(after, "gateway_webhook_backlog") == 0
    assert value(after, "gateway_receipts_quarantined", outcome="quarantined") == 0
    assert value(after, "gateway_certificate_expiry_seconds") > 0

    gw.dispatcher.run_once()
    dispatched = scrape(client)
    assert value(dispatched, "gateway_outbox_pending", adapter="sandbox") < pending
    assert value(dispatched, "gateway_filings", state="declared") > 0             # accepted by the sandbox
    assert value(dispatched, "gateway_breaker_state", adapter="sandbox", state="closed") == 1
    assert value(dispatched, "gateway_breaker_state", adapter="sandbox", state="open") == 0
    assert value(dispatched, "gateway_dispatch_latency_seconds", stat="count") > 0
    assert value(dispatched, "gateway_receipt_latency_seconds", stat="count") > 0
    assert value(dispatched, "gateway_dispatch_latency_seconds", stat="max") >= \
        value(dispatched, "gateway_dispatch_latency_seconds", stat="avg") > 0


# ---- request id and JSON logs --------------------------------------------------------------------

def test_request_id_is_echoed_when_well_formed_and_replaced_when_not(env):
    _, client, _, _ = env
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123.x:y_z"}).headers["X-Request-Id"] == "abc-123.x:y_z"
    made = client.get("/healthz").headers["X-Request-Id"]
    assert len(made) == 32 and int(made, 16) >= 0
    hostile = client.get("/healthz", headers={"X-Request-Id": "a\x1b[31mred b"}).headers["X-Request-Id"]
    assert hostile != "a\x1b[31mred b" and len(hostile) == 32
    assert len(client.get("/healthz", headers={"X-Request-Id": "x" * 129}).headers["X-Request-Id"]) == 32


@pytest.fixture
def json_log():
    stream = io.StringIO()
    handler = logs.handler("json", stream, provider=log_context)
    logger = logging.getLogger("gateway")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def test_each_request_is_one_json_log_line_with_request_id_and_tenant(env, json_log):
    _, client, tenant_id, tenant = env
    assert post_order(client, tenant, **{"X-Request-Id": "req-1"}).status_code == 201
    client.get("/healthz", headers={"X-Request-Id": "req-2"})
    lines = json_log()
    order = next(line for line in lines if line.get("request_id") == "req-1" and line["logger"] == "gateway.api.requests")
    assert order["tenant"] == tenant_id and order["status"] == 201 and order["route"] == "/v1/orders"
    assert order["level"] == "INFO" and order["duration_ms"] >= 0 and "time" in order
    health = next(line for line in lines if line.get("request_id") == "req-2")
    assert health["tenant"] is None and health["status"] == 200
    assert all("\x1b[" not in json.dumps(line) for line in lines)                # no colour codes


def test_text_log_lines_have_no_colour_codes():
    record = logging.LogRecord("gateway.x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    line = logs.formatter("text").format(record)
    assert line.endswith("INFO gateway.x hello world") and "\x1b[" not in line


# ---- migrations ----------------------------------------------------------------------------------

def test_postgresql_refuses_to_start_unmigrated_until_db_upgrade(tmp_path, postgres_url, monkeypatch, capsys):
    from gateway.cli import main

    settings = Settings(instance_dir=tmp_path / "instance", database_url=postgres_url)
    with pytest.raises(ConfigError) as refused:
        bootstrap(settings)
    assert "run `gateway db upgrade`" in str(refused.value) and "\n" not in str(refused.value)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", postgres_url)
    monkeypatch.setenv("GATEWAY_INSTANCE_DIR", str(tmp_path / "instance"))
    assert main(["db", "current"]) == 1
    out = capsys.readouterr()
    assert "database: (empty)" in out.out and "gateway db upgrade" in out.err
    assert main(["serve", "--port", "1"]) == 2              # refused before it listens
    assert "run `gateway db upgrade`" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "current"]) == 0
    code, database = [line.split()[-1] for line in capsys.readouterr().out.splitlines()[-2:]]
    assert code == database
    bootstrap(settings).engine.dispose()                     # now it starts
    assert main(["db", "upgrade"]) == 0 and "already" in capsys.readouterr().out


def test_sqlite_migrates_itself_unless_told_never(tmp_path, signing_key):
    url = f"sqlite:///{tmp_path / 'never.sqlite3'}"
    with pytest.raises(ConfigError):
        bootstrap(Settings(instance_dir=tmp_path / "i", database_url=url, auto_migrate="never"), key=signing_key)
    bootstrap(Settings(instance_dir=tmp_path / "i", database_url=url), key=signing_key).engine.dispose()
    bootstrap(Settings(instance_dir=tmp_path / "i", database_url=url, auto_migrate="never"),
              key=signing_key).engine.dispose()


def test_a_dispatching_process_settles_its_heap_once_started(tmp_path, sqlite_url):
    """``gateway dispatch run`` and the Celery worker (``runtime.dispatching_gateway``) freeze what start-up
    made, so the garbage collector's full passes stop walking it; what is made later is collected."""
    import gc

    from gateway.runtime import dispatching_gateway

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    gw = dispatching_gateway(settings=Settings(instance_dir=tmp_path / "instance", database_url=sqlite_url,
                                               auto_migrate="always"))
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 10_000                      # modules, mappers, the gateway: the start-up heap
        garbage = [[]]
        garbage[0].append(garbage)                  # a cycle made afterwards
        del garbage
        assert gc.collect() >= 1 and gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
        gw.engine.dispose()
