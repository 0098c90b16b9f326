"""Console page of the operator's held orders (gateway/service/holds.py, docs/tax-fx.md "Held orders"):
every tenant's orders the gateway held because customs would refuse them, with the rule named, and
a form to send one anyway with a reason (recorded in the audit chain)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select

from gateway.domain import status as st
from gateway.domain.problems import OrderInvalid
from gateway.service.declare import FilingInvalid
from gateway.service.holds import NotHeld
from gateway.service.orders import NotFound, OrderConflict
from gateway.store import models as m

from .blueprint import bp, gateway
from .session import login_required

SHOWN = 200


@bp.get("/held")
@login_required("operator")
def held():
    with gateway().uow_factory() as uow:
        rows = uow.session.execute(
            select(m.Order.id, m.Order.tenant_id, m.Tenant.name, m.Order.order_no, m.Order.received_at,
                   m.Order.status_reason)
            .join(m.Tenant, m.Tenant.id == m.Order.tenant_id)
            .where(m.Order.status == st.ORDER_HELD)
            .order_by(m.Order.received_at, m.Order.id).limit(SHOWN + 1)).all()
    return render_template("held.html", orders=rows[:SHOWN], more=len(rows) > SHOWN)


@bp.post("/held/<tenant_id>/<order_id>/release")
@login_required("operator")
def release(tenant_id: str, order_id: str):
    try:
        done = gateway().release_held(tenant_id, order_id, request.form.get("reason", ""))
    except OrderInvalid as exc:
        flash("not released: " + "; ".join(f"{p.path} [{p.rule}] {p.message}" for p in exc.problems), "error")
    except FilingInvalid as exc:
        flash("not released: the filings could not be built: " + "; ".join(p.message for p in exc.problems),
              "error")
    except (NotHeld, NotFound, OrderConflict) as exc:
        flash(f"not released: {exc}", "error")
    else:
        flash(f"order {order_id} released: {len(done.filing_ids)} filing(s) signed and queued", "ok")
    return redirect(url_for("console.held"))
