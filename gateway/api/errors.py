"""Errors as JSON: every error response names what is wrong."""
from __future__ import annotations

from flask import jsonify
from werkzeug.exceptions import HTTPException

from gateway.domain.problems import OrderInvalid
from gateway.service.declare import FilingInvalid
from gateway.service.orders import NotFound, OrderConflict


def register_error_handlers(app) -> None:
    @app.errorhandler(OrderInvalid)
    def order_invalid(exc: OrderInvalid):
        return jsonify(error="order invalid", problems=[p.as_dict() for p in exc.problems]), 422

    @app.errorhandler(FilingInvalid)
    def filing_invalid(exc: FilingInvalid):
        return jsonify(error="filing could not be built", problems=[p.as_dict() for p in exc.problems]), 422

    @app.errorhandler(OrderConflict)
    def conflict(exc: OrderConflict):
        return jsonify(error="conflict", message=str(exc)), 409

    @app.errorhandler(NotFound)
    def not_found(exc: NotFound):
        return jsonify(error="not found", message=f"{exc} not found"), 404

    from gateway.signing.keystore import KeystoreError

    @app.errorhandler(KeystoreError)
    def signing_key_unusable(exc: KeystoreError):   # e.g. every key of the tenant expired: rotate
        return jsonify(error="signing key unusable", message=str(exc)), 409

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error=exc.name.lower(), message=exc.description), exc.code
