"""The bulk upload pages: a file of orders (.xlsx, .csv, .json, .jsonl) filed through the bulk file
intake (``gateway.service.bulk``) in the background (``gateway.service.bulk_jobs``).

    GET  /console/bulk                   the upload form and the format templates
    POST /console/bulk                   store the file, start filing it, 303 to its page
    GET  /console/bulk/<job>             a progress bar while the orders are filed (the page reloads
                                         itself every second: a meta refresh, no script), then each
                                         row's result with the cell of each problem
    GET  /console/bulk/<job>/result      the result sheet: the file's rows with status, order id, problems
"""
from __future__ import annotations

from typing import TypeVar

from flask import abort, g, redirect, render_template, request, url_for

from gateway.domain.sheets.columns import FORMATS
from gateway.service import bulk_jobs
from gateway.service.bulk import BadFile

from .access import download
from .blueprint import bp, gateway
from .session import login_required

SUFFIXES = (".xlsx", ".csv", ".json", ".jsonl")
REFRESH_SECONDS = 1
T = TypeVar("T")


def _found(value: T | None, missing: str) -> T:
    """``value``, or 404 with ``missing`` (an upload of another tenant is missing too)."""
    if value is None:
        abort(404, missing)
    return value


def _form(status: int = 200, error: str | None = None):
    return render_template("bulk.html", formats=FORMATS, error=error), status


@bp.route("/bulk", methods=["GET", "POST"])
@login_required("tenant")
def bulk():
    if request.method == "GET":
        return _form()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _form(422, "file: choose a .xlsx, .csv, .json or .jsonl file")
    if not upload.filename.lower().endswith(SUFFIXES):
        return _form(422, f"file: {upload.filename!r} is not a .xlsx, .csv, .json or .jsonl file")
    try:
        job_id = bulk_jobs.start(gateway(), g.who.tenant_id, upload.filename, upload.stream)
    except BadFile as exc:
        return _form(422, f"file: {exc}")
    return redirect(url_for("console.bulk_job", job_id=job_id), 303)


@bp.get("/bulk/<job_id>")
@login_required("tenant")
def bulk_job(job_id: str):
    job = _found(bulk_jobs.read(gateway(), g.who.tenant_id, job_id), "no such upload of yours")
    percent = None
    if job["total"]:
        percent = min(100, int(100 * job["done"] / job["total"]))
    return render_template("bulk_job.html", job=job, percent=percent,
                           refresh=REFRESH_SECONDS if job["state"] == bulk_jobs.RUNNING else None)


@bp.get("/bulk/<job_id>/result")
@login_required("tenant")
def bulk_result(job_id: str):
    data, media, name = _found(bulk_jobs.result_sheet(gateway(), g.who.tenant_id, job_id),
                               "no result sheet for this upload (yet)")
    return download(data, media, name)
