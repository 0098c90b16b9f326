"""Bulk files over HTTP (docs/bulk-files.md): ``POST /v1/orders/upload`` (multipart/form-data, field
``file``: .xlsx, .csv, .json or .jsonl; at most GATEWAY_UPLOAD_MAX_BYTES) answers each row's result;
``GET /v1/templates/<format>.(xlsx|csv)`` downloads a format's template."""
from __future__ import annotations

import io

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import BadRequest, NotFound

from gateway.domain.sheets.columns import FORMATS
from gateway.service.bulk import BadFile, submit_file
from gateway.service.bulk_files import HEADERS, write_template

from .contract import doc
from .errors import problem
from .v1 import _gateway, tenant_required

bp = Blueprint("bulk", __name__, url_prefix="/v1")
MEDIA = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "csv": "text/csv; charset=utf-8"}


@bp.post("/orders/upload")
@doc("Upload a bulk file (XLSX, CSV, JSON, JSON Lines; docs/bulk-files.md): a result per row", tags=("orders",),
     body=("multipart/form-data", {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                                   "required": ["file"]}),
     responses={200: {"type": "object"}, 207: {"type": "object"}})
@tenant_required
def upload():
    gw = _gateway()
    request.max_content_length = gw.settings.upload_max_bytes     # 413 before the body is read past it
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        raise BadRequest("send the file as multipart/form-data in the field 'file'")
    try:
        result = submit_file(gw, g.tenant_id, upload_file.filename, upload_file.stream)
    except BadFile as exc:
        return problem(422, "Bulk file unreadable", str(exc), "bulk-file-unreadable",
                       [p.as_dict() for p in exc.problems])
    counts = result.counts
    return jsonify(result.as_dict()), (200 if counts["refused"] == 0 else 207)


@bp.get("/templates/<fmt>.<kind>")
def template(fmt: str, kind: str):
    headers = request.args.get("headers", "both")
    if fmt not in FORMATS or kind not in MEDIA or headers not in HEADERS:
        raise NotFound(f"templates: /v1/templates/<{'|'.join(FORMATS)}>.<xlsx|csv>?headers=<{'|'.join(HEADERS)}>")
    out = io.BytesIO()
    write_template(fmt, kind, out, headers)
    return Response(out.getvalue(), mimetype=MEDIA[kind],
                    headers={"Content-Disposition": f'attachment; filename="{fmt}-template.{kind}"'})
