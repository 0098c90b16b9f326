"""The JSON API: a Flask application factory and the v1 blueprint."""
from __future__ import annotations

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from gateway.web import init_app as init_console

from . import health, metrics
from .bodies import BODY_LIMIT
from .errors import register_error_handlers
from .v1 import bp as v1


class _Utf8Json(DefaultJSONProvider):
    ensure_ascii = False       # Chinese names and addresses as they are, not as \u escapes


def create_app(gateway=None, test_config: dict | None = None) -> Flask:
    """``gateway`` is a bootstrapped gateway.bootstrap.Gateway; one is built from the environment
    when not given."""
    app = Flask(__name__)
    app.config.update(JSON_SORT_KEYS=False, BODY_LIMIT_BYTES=BODY_LIMIT)
    if test_config:
        app.config.update(test_config)
    # one byte over the limit gets through Werkzeug, so api.bodies always sees a cut stream (→ 413)
    app.config["MAX_CONTENT_LENGTH"] = app.config["BODY_LIMIT_BYTES"] + 1
    if gateway is None:
        from gateway.bootstrap import bootstrap

        gateway = bootstrap()
    app.extensions["gateway"] = gateway
    app.json = _Utf8Json(app)
    register_error_handlers(app)
    metrics.init_app(app)          # X-Request-Id, request counters, one log line per request
    app.register_blueprint(health.bp)     # /healthz, /readyz
    app.register_blueprint(metrics.bp)    # /metrics
    app.register_blueprint(v1)
    app.register_blueprint(__import__("gateway.api.keys", fromlist=["bp"]).bp)   # /v1/keys (signing keys)
    app.register_blueprint(__import__("gateway.api.realtime179", fromlist=["bp"]).bp)   # 179 payment data
    app.register_blueprint(__import__("gateway.api.webhooks", fromlist=["bp"]).bp)   # /v1/webhooks, receipts, dispatch
    app.register_blueprint(__import__("gateway.api.audit", fromlist=["bp"]).bp)   # /v1/audit (auditors, read-only)
    app.register_blueprint(__import__("gateway.api.corrections", fromlist=["bp"]).bp)   # modify, cancel, return
    app.register_blueprint(__import__("gateway.api.site_filings", fromlist=["bp"]).bp)   # CEB513/711/215/701
    app.register_blueprint(__import__("gateway.api.operator", fromlist=["bp"]).bp)   # /v1/operator (tenants, keys)
    init_console(app)                                  # /console: the operator's console (gateway/web/)
    app.register_blueprint(__import__("gateway.api.openapi", fromlist=["bp"]).bp)   # /v1/openapi.json, /v1/docs
    app.register_blueprint(__import__("gateway.api.bulk", fromlist=["bp"]).bp)   # bulk files, templates
    return app
