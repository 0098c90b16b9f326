"""The bulk upload page: a CSV or XLSX file of orders, sent through the intake service.

The file intake (item 2 of issue 12: templates, parsing, per-row results) is built on another
branch. This page calls it through ``submit_file`` below, the one signature agreed for it:

    submit_file(gateway, tenant_id, filename, stream, progress) -> list[RowResult-like dicts]
        each result: {"row": int, "status": int, "order_id": str | None, "problems": [{"column", "rule", "message"}]}

Until that service is on main, the page says so plainly and stores nothing (no stub pretends).
"""
from __future__ import annotations

import importlib

from flask import g, render_template, request

from .blueprint import bp, gateway
from .session import login_required

INTAKE_MODULE = "gateway.service.intake_files"     # the bulk engineer's service, when it lands
MAX_UPLOAD = 20 * 1024 * 1024


def submit_file():
    """The intake service's ``submit_file``, or None while it is not installed."""
    try:
        module = importlib.import_module(INTAKE_MODULE)
    except ImportError:
        return None
    return getattr(module, "submit_file", None)


@bp.route("/bulk", methods=["GET", "POST"])
@login_required("tenant")
def bulk():
    service = submit_file()
    if request.method == "GET":
        return render_template("bulk.html", available=service is not None, results=None, error=None)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template("bulk.html", available=service is not None, results=None,
                               error="file: choose a .csv or .xlsx file"), 422
    if not upload.filename.lower().endswith((".csv", ".xlsx")):
        return render_template("bulk.html", available=service is not None, results=None,
                               error=f"file: {upload.filename!r} is not a .csv or .xlsx file"), 422
    if service is None:
        return render_template("bulk.html", available=False, results=None,
                               error="file intake is not installed on this gateway yet: nothing was stored"), 503
    results = service(gateway(), g.who.tenant_id, upload.filename, upload.stream, None)
    return render_template("bulk.html", available=True, results=results, error=None)
