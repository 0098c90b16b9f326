"""Issue 9, item 3 — receipt authenticity by default. A production channel reads only receipts
signed by a trusted government certificate, without anyone having to ask for it; ``required``
without trusted certificates refuses to start; ``if-present`` and ``none`` are for sandboxes (or an
explicit, logged override). The forged receipts of the issue (an unsigned release under the old
default, a self-signed one under ``required`` without trust anchors) and a tampered one are
quarantined with the reason and never release the inventory."""
from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from gateway.adapters.sandbox.receipts import ReturnEntity, receipt_message, return_time
from gateway.bootstrap import bootstrap
from gateway.config import ConfigError, Settings
from gateway.ports import FixedClock, SequentialIds
from gateway.service.delivery.receipts import quarantine
from gateway.service.dispatch import RoundResult
from gateway.signing import XmlSigner
from tests.helpers import START, add_tenant, fixture_text
from tests.signing_tools import MASTER, rsa_material

PRODUCTION, SANDBOX = "hz-eport", "test-window"


@pytest.fixture(scope="module")
def customs():
    return rsa_material("China E-Port receipts")


@pytest.fixture(scope="module")
def attacker():
    return rsa_material("China E-Port receipts")       # the same name, another (self-signed) key


def settings_for(tmp_path, sqlite_url, customs_cert=None, **changes) -> Settings:
    certs = ()
    if customs_cert is not None:
        path = tmp_path / "customs.pem"
        path.write_bytes(customs_cert.public_bytes(Encoding.PEM))
        certs = (path,)
    values = dict(instance_dir=tmp_path / "instance", database_url=sqlite_url, keystore_key=MASTER,
                  channels={PRODUCTION: {"adapter": "http", "environment": "production",
                                         "options": {"base_url": "http://127.0.0.1:9"}},
                            SANDBOX: {"adapter": "sandbox", "environment": "sandbox"}},
                  tenant_channels={"4601980PRD": PRODUCTION}, default_channel=SANDBOX, government_certs=certs)
    values.update(changes)
    return Settings(**values)


def start(settings, signing_key):
    return bootstrap(settings, clock=FixedClock(START, 1), ids=SequentialIds(), key=signing_key)


@pytest.fixture
def production(tmp_path, sqlite_url, signing_key, customs):
    """The default policy (nothing set about receipts) with the customs certificate configured; a
    tenant on the production channel with an inventory waiting for its receipts."""
    gw = start(settings_for(tmp_path, sqlite_url, customs.certificate), signing_key)
    tenant, _ = add_tenant(gw, "Production tenant", cop_code="4601980PRD")
    gw.keystore.import_key(tenant, rsa_material("Production tenant signer"))
    order_id = gw.submit(tenant, fixture_text("1210-single-line.json")).order_id
    return gw, tenant, order_id


def inventory(gw, tenant, order_id):
    with gw.uow_factory() as uow:
        f = next(f for f in uow.filings.for_order(tenant, order_id) if f.message_type == "CEB621Message")
        return f.guid, f.business_key.split(":", 1)[1], f.state, f.last_status_code


def release(guid: str, cop_no: str, status: str = "800") -> bytes:
    """A CEB622 that releases the inventory, answering its guid: the strongest forgery."""
    entity = ReturnEntity("InventoryReturn", guid, (("agentCode", "4612260A0K"), ("ebpCode", "46121601BC"),
                                                    ("ebcCode", "4612260A0K"), ("copNo", cop_no)),
                          status, return_time(START), "放行")
    return receipt_message("CEB622Message", "F0000000-0000-4000-8000-000000000001", [entity])


def sign(key, body: bytes) -> bytes:
    return XmlSigner().sign(etree.fromstring(body), key)


def ingest(gw, channel, body, cursor) -> tuple[RoundResult, dict | None]:
    result = RoundResult()
    gw.dispatcher.ingest(channel, body, cursor, START, result)
    row = next((r for r in quarantine(gw.uow_factory, everything=True) if r["cursor"] == cursor), None)
    return result, row


def test_forged_receipts_on_a_production_channel_are_quarantined_with_the_reason(production, customs, attacker):
    gw, tenant, order_id = production
    guid, cop_no, state, code = inventory(gw, tenant, order_id)
    forged = {
        "unsigned": (release(guid, cop_no), "unsigned receipt refused"),
        "self-signed": (sign(attacker, release(guid, cop_no)), "is not a trusted certificate"),
        "tampered after signing": (sign(customs, release(guid, cop_no, "120")).replace(b">120<", b">800<"),
                                   "receipt signature refused"),
    }
    for name, (body, reason) in forged.items():
        result, row = ingest(gw, PRODUCTION, body, name)
        assert (result.quarantined, result.applied) == (1, 0), name
        assert row is not None and row["outcome"] == "quarantined" and reason in row["reason"], (name, row)
        assert inventory(gw, tenant, order_id)[2:] == (state, code), name        # not released
    # the genuine receipt, signed by customs, is applied
    result, row = ingest(gw, PRODUCTION, sign(customs, release(guid, cop_no)), "genuine")
    assert (result.applied, row) == (1, None)
    assert inventory(gw, tenant, order_id)[3] == "800"


def test_a_receipt_for_an_unknown_channel_is_held_to_the_production_rule(production):
    gw, tenant, order_id = production
    guid, cop_no, *_ = inventory(gw, tenant, order_id)
    result, row = ingest(gw, "not-configured", release(guid, cop_no), "pushed")
    assert result.quarantined == 1 and "unsigned receipt refused" in row["reason"]


def test_required_without_trusted_government_certificates_refuses_to_start(tmp_path, sqlite_url, signing_key):
    for changes in ({}, {"receipt_signatures": "required"}):            # the production default, and explicit
        with pytest.raises(ConfigError, match=f"channel '{PRODUCTION}' .*GATEWAY_GOVERNMENT_CERTS") as caught:
            start(settings_for(tmp_path, sqlite_url, **changes), signing_key)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("mode", ["if-present", "none"])
def test_weak_modes_only_for_sandboxes_or_with_a_logged_override(tmp_path, sqlite_url, signing_key, customs,
                                                                 mode, caplog):
    with pytest.raises(ConfigError, match=f"channel '{PRODUCTION}' .*allowed on sandbox channels only") as caught:
        start(settings_for(tmp_path, sqlite_url, customs.certificate, receipt_signatures=mode), signing_key)
    assert "\n" not in str(caught.value)
    with caplog.at_level(logging.WARNING, logger="gateway.config"):
        gw = start(settings_for(tmp_path, sqlite_url, customs.certificate, receipt_signatures=mode,
                                receipt_signatures_override=True), signing_key)
    assert any(PRODUCTION in r.getMessage() and "OVERRIDE" in r.getMessage() for r in caplog.records)
    tenant, _ = add_tenant(gw, "Production tenant", cop_code="4601980PRD")
    gw.keystore.import_key(tenant, rsa_material("Production tenant signer"))
    order_id = gw.submit(tenant, fixture_text("1210-single-line.json")).order_id
    guid, cop_no, *_ = inventory(gw, tenant, order_id)
    result, _ = ingest(gw, PRODUCTION, release(guid, cop_no), "overridden")
    assert result.applied == 1                       # what the operator insisted on, and was warned about


def test_sandbox_channels_keep_reading_unsigned_receipts(tmp_path, sqlite_url, signing_key, customs):
    """The sandbox government signs nothing: a sandbox channel defaults to if-present, next to a
    production channel that requires signatures."""
    gw = start(settings_for(tmp_path, sqlite_url, customs.certificate), signing_key)
    tenant, _ = add_tenant(gw, "Sandbox tenant", cop_code="4601980SBX")
    order_id = gw.submit(tenant, fixture_text("1210-single-line.json")).order_id
    guid, cop_no, *_ = inventory(gw, tenant, order_id)
    result, row = ingest(gw, SANDBOX, release(guid, cop_no), "sandbox-unsigned")
    assert (result.applied, row) == (1, None)
