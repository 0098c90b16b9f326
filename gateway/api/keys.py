"""/v1/keys: the calling tenant's signing keys (from the key store) with certificate validity,
state (active, scheduled, superseded, expired) and warnings 30 days before expiry. Never any key
material. Keys are imported and rotated with the CLI (``gateway keys``), not over HTTP."""
from __future__ import annotations

from flask import Blueprint, g

from gateway.service.listing import list_page

from . import paging
from .contract import doc, ref
from .v1 import _gateway, tenant_required

bp = Blueprint("keys", __name__, url_prefix="/v1")


@bp.get("/keys")
@doc("The tenant's signing keys: validity, state, warnings (never key material)", tags=("keys",), paged="keys",
     responses={200: ref("KeyPage")})
@tenant_required
def list_keys():
    paging.only()
    gateway = _gateway()
    keys = [info.as_dict() for info in gateway.keystore.list(g.tenant_id)]
    return paging.page(lambda cursor, limit: list_page(keys, lambda k: (k["channel"], k["key_name"], k["id"]),
                                                       kind="keys", filters={}, cursor=cursor, limit=limit),
                       "keys", warnings=[f"{k['channel']}/{k['key_name']}: {w}" for k in keys for w in k["warnings"]],
                       signing_with=gateway.key_for.describe(g.tenant_id),
                       channel=gateway.settings.signing_channel)
