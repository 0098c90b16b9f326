"""Console pages of operations: receipts in quarantine, the dispatcher (outbox depth and oldest
age, circuit breakers) and the expiry of signing keys and certificates."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import g, render_template
from sqlalchemy import func, select

from gateway.service.delivery import receipts as receipt_service
from gateway.store import models as m

from .blueprint import bp, gateway
from .session import login_required


@bp.get("/quarantine")
@login_required("tenant", "operator")
def quarantine():
    rows = receipt_service.quarantine(gateway().uow_factory, g.who.tenant_id, everything=g.who.role == "operator",
                                      limit=200)
    return render_template("quarantine.html", receipts=rows)


@bp.get("/dispatch")
@login_required("operator")
def dispatch():
    gw = gateway()
    status = gw.dispatcher.status()
    now = gw.clock.now()
    with gw.uow_factory() as uow:
        oldest = dict(uow.session.execute(
            select(m.OutboxItem.adapter, func.min(m.OutboxItem.created_at))
            .where(m.OutboxItem.state == "pending").group_by(m.OutboxItem.adapter)).all())
    ages = {adapter: _age(now, at) for adapter, at in oldest.items()}
    return render_template("dispatch.html", status=status, ages=ages)


def _age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "-"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


@bp.get("/keys")
@login_required("tenant", "operator")
def keys():
    gw = gateway()
    stored = gw.keystore.list(g.who.tenant_id) if gw.keystore is not None else []
    cert = gw.key.certificate
    now = gw.clock.now()
    gateway_key = {"subject": cert.subject.rfc4514_string(), "not_after": cert.not_valid_after_utc,
                   "days_left": (cert.not_valid_after_utc - now).days}
    return render_template("keys.html", keys=stored, gateway_key=gateway_key)
