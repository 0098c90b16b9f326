"""The console's session: who is signed in, the CSRF token of every form, and the cookie settings.

Signing in exchanges an API key for a session (Flask's signed cookie). The cookie holds the role,
the sha256 of the key (what the database keeps, never the key itself) and a CSRF token; every
request looks the key up again, so a revoked key or auditor ends the session at the next click.

Roles, authenticated exactly as the JSON API does:
- ``tenant``: a tenant API key (gateway/api/v1.py); sees its own orders, quarantine and keys;
- ``auditor``: an auditor key (gateway/api/audit.py); reads the orders of the tenants granted, every
  read recorded in the audit chain;
- ``operator``: the operator key (``GATEWAY_OPERATOR_KEY_SHA256``, gateway/api/webhooks.py); sees the
  quarantine of every tenant, the dispatcher and key expiry, no orders.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from pathlib import Path

from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy import select

from gateway.service import audit as audit_service
from gateway.store import models as m

SECRET_FILE = "console-secret"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Identity:
    role: str                         # tenant | auditor | operator
    name: str
    tenant_ids: tuple[str, ...]       # whose orders may be read (none for the operator)
    auditor_id: str | None = None

    @property
    def tenant_id(self) -> str | None:
        return self.tenant_ids[0] if self.role == "tenant" else None


def configure(app, settings) -> None:
    """Session secret and cookie flags from the settings; the safe choice is the default."""
    app.secret_key = settings.console_secret or _instance_secret(Path(settings.instance_dir))
    app.config.update(
        SESSION_COOKIE_NAME="gateway_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(settings.console_secure_cookies),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
    )


def _instance_secret(folder: Path) -> str:
    """A random secret made once per instance and kept in its folder (mode 0600)."""
    path = folder / SECRET_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x", encoding="ascii", opener=lambda p, f: os.open(p, f, 0o600)) as fh:
                fh.write(secrets.token_urlsafe(48))
        except FileExistsError:
            pass                     # another process of this instance wrote it first
    return path.read_text("ascii").strip()


def _gateway():
    return current_app.extensions["gateway"]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _operator_hash() -> str | None:
    value = current_app.config.get("GATEWAY_OPERATOR_KEY_SHA256") or _gateway().settings.operator_key_sha256
    return value.strip().lower() if value else None


def sign_in(key: str) -> Identity | None:
    """The identity ``key`` stands for (tenant, then auditor, then operator), stored in a fresh session."""
    key = key.strip()
    if len(key) < 8:
        return None
    digest = _sha256(key)
    role = None
    with _gateway().uow_factory() as uow:
        if uow.api_keys.find_tenant(key) is not None:
            role = "tenant"
        elif audit_service.find_auditor(uow, key) is not None:
            role = "auditor"
    wanted = _operator_hash()
    if role is None and wanted and hmac.compare_digest(digest, wanted):
        role = "operator"
    if role is None:
        return None
    session.clear()
    session.permanent = True
    session.update(role=role, key=digest, csrf=secrets.token_urlsafe(32))
    return identity()


def sign_out() -> None:
    session.clear()


def identity() -> Identity | None:
    """Who this request's session is, looked up again (None when the key was revoked meanwhile)."""
    role, digest = session.get("role"), session.get("key")
    if not role or not isinstance(digest, str):
        return None
    if role == "operator":
        wanted = _operator_hash()
        return Identity("operator", "operator", ()) if wanted and hmac.compare_digest(digest, wanted) else None
    with _gateway().uow_factory() as uow:
        s = uow.session
        if role == "tenant":
            row = s.execute(select(m.ApiKey.tenant_id, m.Tenant.name).join(m.Tenant, m.Tenant.id == m.ApiKey.tenant_id)
                            .where(m.ApiKey.key_hash == digest, m.ApiKey.revoked_at.is_(None),
                                   m.Tenant.disabled_at.is_(None))).first()
            return Identity("tenant", row.name, (row.tenant_id,)) if row else None
        if role == "auditor":
            auditor = s.scalar(select(m.Auditor).where(m.Auditor.key_hash == digest, m.Auditor.revoked_at.is_(None)))
            if auditor is None:
                return None
            grants = s.scalars(select(m.AuditorGrant.tenant_id).where(m.AuditorGrant.auditor_id == auditor.id))
            return Identity("auditor", auditor.name, tuple(sorted(grants)), auditor_id=auditor.id)
    return None


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Every POST carries the session's token in the form (a page of another site cannot read it)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent, expected = request.form.get(CSRF_FIELD, ""), session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, description="the form's security token is missing or out of date: reload the page and try again")


def login_required(*roles: str):
    """The view runs for a signed-in identity of one of ``roles`` (all when none given): ``g.who``."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            who = identity()
            if who is None:
                session.clear()
                return redirect(url_for("console.login", next=request.full_path if request.method == "GET" else None))
            if roles and who.role not in roles:
                abort(403, description=f"this page is for the {' or '.join(roles)} role")
            g.who = who
            return view(*args, **kwargs)

        return wrapper

    return decorator


def record_auditor_read(who: Identity, tenant_id: str | None) -> None:
    """An auditor's read is recorded in the chain, as the API's reads are (gateway/api/audit.py)."""
    if who.role != "auditor":
        return
    with _gateway().uow_factory() as uow:
        uow.audit.record(tenant_id, "auditor", who.auditor_id, "auditor.read",
                         {"path": request.path, "query": request.query_string.decode("utf-8", "replace"),
                          "auditor": who.name, "via": "console"})
        uow.commit()
