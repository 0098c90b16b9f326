"""Recording a batch of sends (SQLite and PostgreSQL) costs the same statements whatever its size: the
filings' states and the orders' statuses are written set-wise (``StateKeeper.batched(write_later=True)``),
and the webhook deliveries of the batch's events are inserted together, with one statement."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from gateway.egress import EgressPolicy
from gateway.service.delivery import webhooks
from gateway.service.dispatch import RoundResult
from gateway.store import models as m
from tests.delivery_helpers import drive, line_gateway, many_orders, submit_many
from tests.helpers import add_tenant
from tests.integration.test_dispatch_batches import Counter


class _AnyUrl(EgressPolicy):
    def vet(self, url):        # never called: the deliveries are only queued
        return None


def _round(gw, line, clock, counter, n_orders: int, start: int, webhook: bool) -> tuple[int, int, int, int]:
    """(filings sent, filings refused, statements, webhook deliveries queued) of one send round over
    ``n_orders`` new orders of a new tenant: one send refused for good (a filing rejected, its order
    rejected), one to retry later, the rest taken."""
    tenant, _ = add_tenant(gw, name=f"T{start}")
    if webhook:
        webhooks.register(gw.uow_factory, clock, gw.ids, tenant, "http://127.0.0.1:9/hook", egress=_AnyUrl())
    submit_many(gw, tenant, many_orders(n_orders, start))
    line.plan = ["reject", "5xx"]
    with gw.uow_factory() as uow:
        queued = uow.session.scalar(select(func.count()).select_from(m.WebhookDelivery))
    counter.reset()
    r = RoundResult()
    gw.dispatcher.send_due(r)
    statements = counter.statements
    with gw.uow_factory() as uow:
        queued = uow.session.scalar(select(func.count()).select_from(m.WebhookDelivery)) - queued
        rejected = uow.session.scalar(select(func.count()).select_from(m.Order).where(
            m.Order.tenant_id == tenant, m.Order.status == "rejected"))
    assert rejected == 1 and r.retried == 1
    return r.sent, r.failed, statements, queued


def test_recording_sends_costs_the_same_statements_for_4_or_12_orders(tmp_path, db_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    counter = Counter(gw.engine)
    _round(gw, line, clock, counter, 2, 200, webhook=False)       # the breaker's row made, a failure counted
    drive(gw, clock)
    small = _round(gw, line, clock, counter, 4, 0, webhook=False)
    drive(gw, clock)
    large = _round(gw, line, clock, counter, 12, 100, webhook=False)
    assert small[1] == large[1] == 1 and large[0] > 2 * small[0] > 0
    assert large[2] == small[2], (small, large)                   # not one statement more per send


def test_webhook_deliveries_of_a_batch_are_queued_with_the_same_statements_for_4_or_12_orders(
        tmp_path, db_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    counter = Counter(gw.engine)
    _round(gw, line, clock, counter, 2, 200, webhook=False)       # the breaker's row made, a failure counted
    drive(gw, clock)
    small = _round(gw, line, clock, counter, 4, 0, webhook=True)
    drive(gw, clock)
    large = _round(gw, line, clock, counter, 12, 100, webhook=True)
    assert small[3] > 4 and large[3] > 12                         # each order's events
    assert large[3] == 3 * small[3]
    assert large[2] == small[2], (small, large)                   # not one statement more per event
    with gw.uow_factory() as uow:                                 # every event, whole, for the tenant's hook
        rows = uow.session.execute(select(m.WebhookDelivery.event_id, m.WebhookDelivery.state,
                                          m.WebhookDelivery.body, m.WebhookDelivery.webhook_id,
                                          m.Webhook.tenant_id, m.WebhookDelivery.tenant_id)
                                   .join(m.Webhook, m.Webhook.id == m.WebhookDelivery.webhook_id)).all()
    assert len({r.event_id for r in rows}) == len(rows) and {r.state for r in rows} == {"pending"}
    assert all(r[4] == r[5] and bytes(r.body).startswith(b'{"data":') for r in rows)


def test_a_batch_of_webhook_events_is_inserted_when_it_ends_in_order_and_not_at_all_if_it_raises(
        tmp_path, db_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    webhooks.register(gw.uow_factory, clock, gw.ids, tenant, "http://127.0.0.1:9/hook", egress=_AnyUrl())
    events = gw.dispatcher.events

    def queued() -> list[int]:
        with gw.uow_factory() as uow:
            return [json.loads(bytes(b))["data"]["n"] for b in uow.session.scalars(
                select(m.WebhookDelivery.body).order_by(m.WebhookDelivery.id))]

    with gw.uow_factory() as uow:
        events.emit(uow, tenant, webhooks.EVENT_ORDER, {"n": 0})         # no batch: added at once
        with events.batch(uow):
            events.emit(uow, tenant, webhooks.EVENT_FILING, {"n": 1})
            with events.batch(uow):                                       # left to the outer block
                events.emit(uow, tenant, webhooks.EVENT_ORDER, {"n": 2})
            assert uow.session.scalar(select(func.count()).select_from(m.WebhookDelivery)) == 1
            events.emit(uow, tenant, webhooks.EVENT_FILING, {"n": 3})
        uow.commit()
    assert queued() == [0, 1, 2, 3]                                       # the emitting order
    with gw.uow_factory() as uow:
        try:
            with events.batch(uow):
                events.emit(uow, tenant, webhooks.EVENT_FILING, {"n": 4})
                raise RuntimeError("the batch fails")
        except RuntimeError:
            pass
        events.emit(uow, tenant, webhooks.EVENT_FILING, {"n": 5})         # after the block: no batch any more
        uow.commit()
    assert queued() == [0, 1, 2, 3, 5]
