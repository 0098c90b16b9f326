"""The bulk upload page: a file of orders (.xlsx, .csv, .json, .jsonl) filed through the bulk file
intake, with each row's result and the cell of each problem.

The intake is built on another branch (issue 12 item 2, ``bulk``): ``gateway.service.bulk`` with

    submit_file(gateway, tenant_id, filename, stream, progress=None) -> FileResult
        FileResult.rows: [RowResult(row, order_no, status, order_id, problems: [CellProblem(row, column,
        header, letter, rule, message)])], FileResult.counts; raises BadFile (with .problems) when unreadable

It is looked up when the page is used, so this branch works before that one is merged: until then the
page says the intake is not installed and stores nothing (no stub pretends). After both are merged the
lookup can become a plain import. The upload is answered when the file is filed (no progress bar yet).
"""
from __future__ import annotations

import importlib

from flask import g, render_template, request

from .blueprint import bp, gateway
from .session import login_required

INTAKE_MODULE = "gateway.service.bulk"
SUFFIXES = (".xlsx", ".csv", ".json", ".jsonl")


def _intake():
    """The intake module, or None while it is not installed."""
    try:
        module = importlib.import_module(INTAKE_MODULE)
    except ImportError:
        return None
    return module if hasattr(module, "submit_file") else None


def _page(intake, status: int = 200, **values):
    formats = getattr(importlib.import_module("gateway.domain.sheets.columns"), "FORMATS", ()) if intake else ()
    return render_template("bulk.html", available=intake is not None, formats=formats,
                           **{"result": None, "error": None, "problems": (), **values}), status


@bp.route("/bulk", methods=["GET", "POST"])
@login_required("tenant")
def bulk():
    intake = _intake()
    if request.method == "GET":
        return _page(intake)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(intake, 422, error="file: choose a .xlsx, .csv, .json or .jsonl file")
    if not upload.filename.lower().endswith(SUFFIXES):
        return _page(intake, 422, error=f"file: {upload.filename!r} is not a .xlsx, .csv, .json or .jsonl file")
    if intake is None:
        return _page(None, 503, error="file intake is not installed on this gateway yet: nothing was stored")
    try:
        result = intake.submit_file(gateway(), g.who.tenant_id, upload.filename, upload.stream)
    except intake.BadFile as exc:
        return _page(intake, 422, error=f"{upload.filename}: {exc}", problems=getattr(exc, "problems", ()))
    return _page(intake, result=result)
