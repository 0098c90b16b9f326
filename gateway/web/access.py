"""What every console page that reads a stored row or hands out bytes does the same way."""
from __future__ import annotations

from flask import Response, abort, g

from .blueprint import gateway


def scoped(model, key, what: str):
    """The row of ``model`` with primary key ``key`` if its tenant is one the signed-in identity may
    read; 404 otherwise, as the API answers (a tenant cannot tell another's rows from missing ones)."""
    with gateway().uow_factory() as uow:
        row = uow.session.get(model, key)
        if row is None or row.tenant_id not in g.who.tenant_ids:
            abort(404, description=f"{what} {key} not found")
        uow.session.expunge(row)
        return row


def download(data: bytes, mimetype: str, filename: str, sha256: str | None = None) -> Response:
    """Bytes exactly as stored, as an attachment (never rendered by the browser)."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "X-Content-Type-Options": "nosniff"}
    if sha256:
        headers["X-Content-SHA256"] = sha256
    return Response(data, mimetype=mimetype, headers=headers)
