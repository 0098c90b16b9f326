"""Channels that never stall (docs/adapters.md "Channels", docs/deployment.md "Delivery").

- On a channel without lookup (DXP) an in-doubt filing is resent with the same message id; the
  receiver's "duplicate" answer counts as done; the unsupported lookup never counts against the
  circuit breaker.
- Every message goes out on the tenant's channel for its agency: corrections and reversals too.
- An agency no channel carries gets its record "prepared, not transmitted (no channel)": it never
  holds up or blocks customs filings and never turns the order rejected; the status says so.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from gateway.adapters.sandbox import SandboxGovernment
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.domain import status as st
from gateway.ports import FixedClock, LookupUnsupported, SequentialIds
from gateway.service.corrections import CorrectionService
from gateway.store import models as m
from tests.delivery_helpers import FaultyLine, drive, line_gateway
from tests.helpers import START, add_tenant, fixture_text


class NoLookupLine(FaultyLine):
    """The sandbox behind a line that, like DXP, cannot be asked what it has."""

    def lookup(self, message_id: str):
        with self._lock:
            self.calls.append(("lookup", message_id, "unsupported"))
        raise LookupUnsupported("no query on this channel (scripted)")


def transitions(gw) -> list[tuple[str, str]]:
    with gw.uow_factory() as uow:
        return [(t.from_state, t.to_state) for t in uow.session.scalars(select(m.BreakerTransition))]


def audit(gw, action: str) -> list[dict]:
    with gw.uow_factory() as uow:
        return [json.loads(e.detail) for e in uow.session.scalars(
            select(m.AuditEvent).where(m.AuditEvent.action == action).order_by(m.AuditEvent.id))]


def test_in_doubt_filings_on_a_channel_without_lookup_are_resent_with_the_same_id(tmp_path, db_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, db_url, signing_key)
    line = NoLookupLine(line.government, clock)
    gw.dispatcher.adapters["sandbox"] = line
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    # four sends in a row reach the government and time out: four unknown outcomes, below the breaker's
    # threshold of five; the lookups that follow are unsupported and must not push it over
    line.plan = ["timeout_after_accept"] * 4
    drive(gw, clock)
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "released", view
    in_doubt = [mid for op, mid, what in line.calls if op == "send" and what == "timeout_after_accept"]
    assert len(in_doubt) == 4
    for mid in in_doubt:
        assert [what for op, m_, what in line.calls if m_ == mid] == ["timeout_after_accept", "unsupported", "pass"]
        assert line.government.deliveries(mid) == 2          # the same id twice; taken once
    sent = [e for e in audit(gw, "filing.sent") if e["guid"] in in_doubt]
    assert len(sent) == 4 and all(e["duplicate"] for e in sent)    # the duplicate answer counts as done
    assert transitions(gw) == []                                     # the breaker never opened


def channel_gateway(tmp_path, signing_key, channels: dict, tenants: dict, agencies: dict | None = None):
    path = tmp_path / "channels.json"
    path.write_text(json.dumps({"channels": channels, "tenants": tenants, "agencies": agencies or {}}))
    settings = Settings.from_env({"GATEWAY_CHANNELS_FILE": str(path), "GATEWAY_INSTANCE_DIR": str(tmp_path / "i")},
                                 database_url=f"sqlite:///{tmp_path}/gw.sqlite3")
    clock = FixedClock(START, step_seconds=1)
    adapters = {name: SandboxGovernment(clock=clock, ids=SequentialIds(prefix=f"5A4D8B0{n}-0000-4000-9000"))
                for n, name in enumerate(channels)}
    gw = bootstrap(settings, clock=clock, ids=SequentialIds(), adapters=adapters, key=signing_key)
    return gw, adapters


def outbox(gw) -> dict[str, str]:
    with gw.uow_factory() as uow:
        return {f.message_type: o.adapter for o, f in uow.session.execute(
            select(m.OutboxItem, m.Filing).join(m.Filing, m.Filing.id == m.OutboxItem.filing_id))}


def test_a_cancellation_goes_out_on_the_tenant_s_channel(tmp_path, signing_key):
    sandbox = {"adapter": "sandbox", "environment": "sandbox"}
    gw, adapters = channel_gateway(tmp_path, signing_key, {"default-window": sandbox, "tenant-window": sandbox},
                                   {"4601980ABC": "tenant-window"})
    tenant, _ = add_tenant(gw, cop_code="4601980ABC")
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, sub.order_id)["status"] == "released"
    CorrectionService.for_gateway(gw).cancel_inventory(tenant, sub.order_id, "买家取消订单，商品未出区")
    assert outbox(gw)["CEB623Message"] == "tenant-window"
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    assert view["status"] == "cancelled", view
    cancel = next(f for f in view["filings"] if f["message_type"] == "CEB623Message")
    assert adapters["tenant-window"].deliveries(cancel["guid"]) == 1
    assert adapters["default-window"].deliveries(cancel["guid"]) == 0


def test_records_of_an_agency_without_channel_are_prepared_not_transmitted(tmp_path, signing_key):
    sandbox = {"adapter": "sandbox", "environment": "sandbox"}
    gw, adapters = channel_gateway(tmp_path, signing_key, {"window": sandbox},
                                   {"4601980ABC": {"customs": "window", "inspection": "window"}},
                                   agencies={"tax": None, "fx": None})
    tenant, _ = add_tenant(gw, cop_code="4601980ABC")
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    routed = outbox(gw)
    assert set(routed.values()) == {"window"} and "TaxRecord" not in routed and "FxRecord" not in routed
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    states = {f["message_type"]: f["state"] for f in view["filings"]}
    assert states["TaxRecord"] == states["FxRecord"] == st.NOT_TRANSMITTED
    assert states["CEB621Message"] == st.RELEASED and states["InspectionRecord"] == st.RELEASED
    assert view["status"] == "released"
    assert view["status_reason"] == f"{st.NO_CHANNEL}: FxRecord, TaxRecord" or \
        view["status_reason"] == f"{st.NO_CHANNEL}: TaxRecord, FxRecord"
    assert view["agencies"]["tax"] == view["agencies"]["fx"] == st.NOT_TRANSMITTED
    assert view["agencies"]["customs"] == "released"
    assert len(audit(gw, "filing.not_transmitted")) == 2


@pytest.mark.parametrize("entry, agencies, agency, expected", [
    ("a", {}, "customs", "a"), ("a", {}, "tax", "a"), (None, {}, "fx", "d"), (None, {"fx": None}, "fx", None),
    ("a", {"tax": "b"}, "tax", "b"), ({"customs": "a", "tax": None}, {"tax": "b"}, "tax", None),
    ({"customs": "a"}, {}, "fx", "a"), ({"tax": "b"}, {}, "customs", "d"),
])
def test_routes(entry, agencies, agency, expected):
    from gateway.service.channels import route

    assert route(entry, agencies, "d", agency) == expected


def test_the_customs_tax_bill_lands_on_a_tax_record_sent_on_the_tax_channel(tmp_path, signing_key):
    """Customs sends the CEB816 tax bill on the customs channel of the order; the tax record it releases
    went out on the tax agency's channel: still matched (receipts are matched among the filings sent on
    their channel, here the order's inventory)."""
    sandbox = {"adapter": "sandbox", "environment": "sandbox"}
    gw, adapters = channel_gateway(tmp_path, signing_key, {"window": sandbox, "tax-window": sandbox},
                                   {}, agencies={"tax": "tax-window"})
    tenant, _ = add_tenant(gw, cop_code="4601980ABC")
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    routed = outbox(gw)
    assert routed["TaxRecord"] == "tax-window" and routed["CEB621Message"] == "window"
    gw.dispatcher.run_until_idle()
    view = gw.order(tenant, sub.order_id)
    tax = next(f for f in view["filings"] if f["message_type"] == "TaxRecord")
    assert adapters["tax-window"].deliveries(tax["guid"]) == 1 and adapters["window"].deliveries(tax["guid"]) == 0
    assert tax["state"] == st.RELEASED and view["status"] == "released", view
    with gw.uow_factory() as uow:
        bill = uow.session.scalars(select(m.Receipt).where(m.Receipt.message_type == "CEB816Message")).one()
        assert (bill.adapter, bill.outcome) == ("window", "applied")


@pytest.mark.parametrize("routes, expected", [
    ({"customs": "s", "tax": "s"}, "sandbox"), ({"customs": "s", "tax": "p"}, "production"),
    ({"customs": "s", "tax": None}, "sandbox"), ({"customs": "unknown"}, "production"),
])
def test_a_tenant_with_any_production_channel_signs_as_on_production(routes, expected):
    from gateway.bootstrap import _environment_of

    assert _environment_of({"s": "sandbox", "p": "production"}, routes) == expected
