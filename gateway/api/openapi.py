"""The OpenAPI 3.1 document, generated from the running app: every rule of ``app.url_map`` (but the
docs page's own files) with its path parameters from the rule's converters and the rest from the
view's ``@doc`` declaration (``api.contract``); the order formats' JSON Schemas are the very objects
intake validates with. A view without a declaration fails the generation (and a test), so the
document cannot drift from the routes.

    GET /v1/openapi.json     the document
    GET /v1/docs             Swagger UI, served from the swagger-ui-bundle package (no CDN)
"""
from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, jsonify, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.routing import Rule

from gateway.domain.cbec_export import intake as export_intake
from gateway.domain.cbec_import import intake as import_intake
from gateway.domain.general_trade import intake as gt_intake
from gateway.service.listing import DEFAULT_LIMIT, MAX_LIMIT

from . import components
from .contract import AUDITOR, OPERATOR, TENANT, contract_of, doc
from .site_filings import COMPONENTS as SITE_COMPONENTS

bp = Blueprint("openapi", __name__, url_prefix="/v1")

ORDER_FORMATS = {"cbec-import": import_intake.SCHEMA, "cbec-export": export_intake.SCHEMA,
                 "general-trade": gt_intake.SCHEMA}
FORMAT_COMPONENTS = {"cbec-import": "CbecImportOrder", "cbec-export": "CbecExportOrder",
                     "general-trade": "GeneralTradeOrder"}
OUTSIDE = ("static", "openapi.docs_file",      # endpoints that are not part of the contract:
           "metrics.metrics",                      # Prometheus text format, for the scraper
           "bulk.template")                        # spreadsheet downloads (docs/bulk-files.md)
OUTSIDE_BLUEPRINTS = ("console",)                # the operator's HTML console (gateway/web/): pages, not the API


def _site_schemas() -> dict:
    from gateway.domain import site_filings
    from gateway.domain.cbec_export import summary

    return {**site_filings.SCHEMAS, "summary": summary.SCHEMA}


def outside(endpoint: str) -> bool:
    return endpoint in OUTSIDE or endpoint.split(".")[0] in OUTSIDE_BLUEPRINTS
_CONVERTER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
SECURITY = {
    TENANT: {"type": "http", "scheme": "bearer", "description": "a tenant API key (`gateway` CLI: tenants and keys)"},
    AUDITOR: {"type": "http", "scheme": "bearer", "description": "an auditor key (`gateway audit auditor create`)"},
    OPERATOR: {"type": "http", "scheme": "bearer",
               "description": "the operator key (its sha256 is GATEWAY_OPERATOR_KEY_SHA256)"},
}


def _swagger_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path  # optional at import time: the API runs without the docs page

    return Path(swagger_ui_path)


def _hoist(schema: dict, prefix: str, into: dict) -> dict:
    """A format's schema as an OpenAPI component: its ``$defs`` become components of their own
    (``<prefix>_<name>``) and its ``#/$defs/`` references point at them; ``$id``/``$schema`` dropped."""
    doc_ = copy.deepcopy(schema)
    for name, sub in doc_.pop("$defs", {}).items():
        into[f"{prefix}_{name}"] = sub
    doc_.pop("$id", None)
    doc_.pop("$schema", None)

    def walk(node):
        if isinstance(node, dict):
            target = node.get("$ref")
            if isinstance(target, str) and target.startswith("#/$defs/"):
                node["$ref"] = f"#/components/schemas/{prefix}_{target[len('#/$defs/'):]}"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc_)
    walk(into)
    return doc_


def _path(rule: Rule) -> tuple[str, list[dict]]:
    params = []

    def replace(match: re.Match) -> str:
        converter, name = match.group(1) or "default", match.group(2)
        schema = {"type": "integer", "minimum": 0} if converter == "int" else {"type": "string", "maxLength": 100}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return _CONVERTER.sub(replace, rule.rule), params


def _media(value) -> dict:
    media, schema = value if isinstance(value, tuple) else ("application/json", value)
    return {media: {"schema": schema}}


def _operation(app: Flask, rule: Rule, method: str) -> dict:
    view = app.view_functions[rule.endpoint]
    c = contract_of(view)
    if c is None:
        raise LookupError(f"{rule.endpoint} ({rule.rule}) has no @doc contract (gateway/api/contract.py)")
    path, params = _path(rule)
    for name, (schema, text) in c.query.items():
        params.append({"name": name, "in": "query", "required": False, "schema": schema, "description": text})
    if c.paged:
        params.append({"name": "limit", "in": "query", "required": False, "description": f"items per page (≤ {MAX_LIMIT})",
                       "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}})
        params.append({"name": "cursor", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 512},
                       "description": "the `next` of the previous page, with the same filters"})
    for name, (schema, text) in c.headers.items():
        params.append({"name": name, "in": "header", "required": False, "schema": schema, "description": text})
    if method == "POST" and c.auth:
        params.append({"$ref": "#/components/parameters/IdempotencyKey"})
    responses: dict = {}
    for status, value in sorted(c.responses.items()):
        answer: dict = {"description": components.STATUS_TEXT.get(status, "answer"),
                        "headers": {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}}}
        if value is not None:
            answer["content"] = _media(value)
        responses[str(status)] = answer
    responses["default"] = {"$ref": "#/components/responses/Problem"}
    op = {"operationId": rule.endpoint.replace(".", "_"), "summary": c.summary, "parameters": params,
          "responses": responses, "tags": list(c.tags) or [rule.endpoint.split(".")[0]]}
    if c.description:
        op["description"] = c.description
    if c.body is not None:
        op["requestBody"] = {"required": True, "content": _media(c.body)}
    op["security"] = [{scheme: []} for scheme in c.auth]
    return {path: {method.lower(): op}}


def generate(app: Flask) -> dict:
    schemas = dict(components.SCHEMAS)
    for fmt, schema in ORDER_FORMATS.items():
        schemas[FORMAT_COMPONENTS[fmt]] = _hoist(schema.document, FORMAT_COMPONENTS[fmt], schemas)
    for kind, schema in _site_schemas().items():      # the documents of /v1/site-filings/<kind>
        schemas[SITE_COMPONENTS[kind]] = _hoist(schema.document, SITE_COMPONENTS[kind], schemas)
    paths: dict = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if outside(rule.endpoint):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for path, ops in _operation(app, rule, method).items():
                paths.setdefault(path, {}).update(ops)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Single-window customs gateway API", "version": "1",
                 "description": components.API_DESCRIPTION},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY, "responses": components.RESPONSES,
                       "parameters": components.PARAMETERS, "headers": components.HEADERS},
    }


@cache
def _document_for(app_id: int, app: Flask) -> dict:     # one generation per app (the routes do not change)
    return generate(app)


@bp.get("/openapi.json")
@doc("This OpenAPI document", auth=None, tags=("contract",), responses={200: {"type": "object"}})
def openapi_json():
    app = current_app._get_current_object()
    return jsonify(_document_for(id(app), app))


@bp.get("/docs")
@doc("The API documentation (Swagger UI, served locally)", auth=None, tags=("contract",),
     responses={200: ("text/html", {"type": "string"})})
def docs_page():
    return Response(components.DOCS_HTML, mimetype="text/html")


@bp.get("/docs/static/<path:name>")
def docs_file(name: str):
    if name == "init.js":
        return Response(components.DOCS_INIT, mimetype="text/javascript")
    if name not in components.DOCS_FILES:
        raise NotFound("no such file of the documentation page")
    return send_from_directory(_swagger_dir(), name, max_age=3600)
