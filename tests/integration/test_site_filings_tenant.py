"""The other parties' filings signed for a tenant (docs/site-filings.md) on a real database: BaseTransfer is
the tenant's enterprise, the signature made with the tenant's OWN key (imported into the key store, not the
gateway's), and a document naming an enterprise not registered for the tenant is refused with the field and
the rule; nothing is stored."""
import json
from datetime import timedelta

import pytest
from lxml import etree
from sqlalchemy import func, select

from gateway import schemas
from gateway.declarations.common import CEB_NS
from gateway.domain.problems import OrderInvalid
from gateway.service.site_filings import KINDS, TenantNotFound, prepare_for_tenant
from gateway.signing.verifier import verify
from gateway.store import models as m
from tests.helpers import ROOT, START, add_tenant
from tests.signing_tools import make, rsa_material

INPUTS = ROOT / "fixtures" / "site-filings"
NS = {"c": CEB_NS}
NOW = START + timedelta(days=14)      # after the fixtures' signed_at
PARTIES = ("1101180326", "1101110326", "1105910159", "4403980S2K", "4403980W6U", "4403980R3S", "4403960M8Q")


def data(kind):
    return json.loads((INPUTS / f"{kind}.json").read_text("utf-8"))


@pytest.fixture
def env(tmp_path, sqlite_url, signing_key):
    gw, _ = make(tmp_path, sqlite_url, signing_key)            # with a key store (master key set)
    tenant, _ = add_tenant(gw, enterprises=list(PARTIES))
    gw.keystore.import_key(tenant, rsa_material("Site filer"))  # the tenant's own signing key
    return gw, tenant


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_signed_for_the_tenant_with_its_enterprise_and_key(env, kind):
    gw, tenant = env
    signed = prepare_for_tenant(gw.uow_factory, gw.declarer, gw.key_for, tenant, kind, data(kind), app_time=NOW)
    root = etree.fromstring(signed.signed_bytes)
    assert etree.QName(root).localname == KINDS[kind].message_type
    assert schemas.validate(root) == []
    assert root.findtext("c:BaseTransfer/c:copCode", namespaces=NS) == "4601980ABC"      # the tenant's
    assert root.findtext("c:BaseTransfer/c:dxpId", namespaces=NS) == "DXPENT0000458763"
    verified = verify(signed.signed_bytes)
    own = gw.keystore.key_for(tenant, at=NOW)
    assert verified.certificate == own.certificate                  # the tenant's own key signed it,
    assert verified.certificate != gw.key.certificate                # not the gateway's
    with gw.uow_factory() as uow:        # nothing stored
        assert uow.session.scalar(select(func.count()).select_from(m.Filing)) == 0


def test_an_enterprise_not_registered_for_the_tenant_is_refused(env):
    gw, tenant = env
    d = data("return-tally")
    d["operator"]["code"] = "4403999ZZZ"
    with pytest.raises(OrderInvalid) as exc:
        prepare_for_tenant(gw.uow_factory, gw.declarer, gw.key_for, tenant, "return-tally", d, app_time=NOW)
    assert [(p.path, p.rule) for p in exc.value.problems] == [("$.operator.code", "enterprise-not-registered")]


def test_bad_input_is_refused_before_the_tenant_is_read(env):
    gw, tenant = env
    d = data("entry-list")
    del d["bill_no"]
    with pytest.raises(OrderInvalid) as exc:
        prepare_for_tenant(gw.uow_factory, gw.declarer, gw.key_for, "no-such-tenant", "entry-list", d,
                           app_time=NOW)
    assert [(p.path, p.rule) for p in exc.value.problems] == [("$.bill_no", "schema:required")]
    with pytest.raises(TenantNotFound):
        prepare_for_tenant(gw.uow_factory, gw.declarer, gw.key_for, "no-such-tenant", "entry-list",
                           data("entry-list"), app_time=NOW)
