"""The other parties' filings stored, queued and sent (docs/site-filings.md "Sending"): each document is an
``orders`` row of its own kind with its filings under it; the dispatcher sends them on the tenant's channel
with the in-process sandbox, and the official sample receipt of each type, fed through the receipts path,
is matched to the filing it answers and moves the document's combined status."""
import json
import re
from datetime import timedelta

import pytest
from lxml import etree
from sqlalchemy import func, select

from gateway.declarations.common import CEB_NS
from gateway.domain import status as st
from gateway.domain.problems import OrderInvalid
from gateway.service.orders import OrderConflict
from gateway.service.site_filings import KINDS
from gateway.store import models as m
from tests.helpers import ROOT, START, add_tenant, make_gateway

INPUTS = ROOT / "fixtures" / "site-filings"
SAMPLES = ROOT.parent / "shared" / "reference" / "ceb-202205" / "samples"
NS = {"c": CEB_NS}
PARTIES = ("1101180326", "1101110326", "1105910159", "4403980S2K", "4403980W6U", "4403980R3S", "4403960M8Q")
# the official sample receipt of each kind, the fields its key is made of (in the key's order) and the
# returnStatus that is the filing's final good state (gateway/domain/status.py FINAL_GOOD)
RECEIPT = {
    "logistics-status": ("import/CEB514Message.xml", ("logisticsCode", "logisticsNo", "logisticsStatus"), "120",
                         st.ACCEPTED),
    "entry-list": ("import/CEB712Message.xml", ("copNo",), "399", st.CONCLUDED),
    "return-tally": ("export/CEB216Message.xml", ("logisticsCode", "logisticsNo", "coElNo"), "399", st.CONCLUDED),
    "summary": ("export/CEB702Message.xml", ("copNo",), "399", st.CONCLUDED),
}


def data(kind):
    return json.loads((INPUTS / f"{kind}.json").read_text("utf-8"))


@pytest.fixture
def env(tmp_path, sqlite_url, signing_key):
    gw, sandbox = make_gateway(tmp_path, sqlite_url, signing_key)
    gw.clock.start = START + timedelta(days=14)      # after the fixtures' signed_at
    tenant, api_key = add_tenant(gw, enterprises=list(PARTIES))
    gw.test_api_key = api_key
    return gw, sandbox, tenant


def rows(gw, model, **where):
    with gw.uow_factory() as uow:
        stmt = select(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        found = uow.session.scalars(stmt).all()
        uow.session.expunge_all()
        return found




def official_receipt(kind: str, filing: dict, code: str, *, guid: str | None = None, when: str = "20261204100000000"
                     ) -> bytes:
    """The official sample receipt of ``kind`` cut to its first return entity, answering ``filing``: its guid
    (or ``guid``), the key fields of its business key, ``code`` at ``when``."""
    path, names, _, _ = RECEIPT[kind]
    if not (SAMPLES / path).is_file():        # the official samples live beside the repository (../shared)
        pytest.skip(f"official sample not present at {SAMPLES / path} (shared/reference absent)")
    root = etree.parse(str(SAMPLES / path), etree.XMLParser(remove_blank_text=True)).getroot()
    entities = list(root)
    for extra in entities[1:]:
        root.remove(extra)
    values = dict(zip(names, filing["business_key"].split(":", 1)[1].split("|"), strict=True))
    values.update(guid=guid or filing["guid"], returnStatus=code, returnTime=when, returnInfo=f"status {code}")
    for child in entities[0]:
        name = etree.QName(child).localname
        if name in values:
            child.text = values[name]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def sent_only(gw):
    """One sending pass of the dispatcher (no receipts polled)."""
    from gateway.service.dispatch import RoundResult

    result = RoundResult()
    gw.dispatcher.send_due(result)
    return result


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_stored_as_a_document_of_its_kind_with_its_filings_queued(env, kind):
    gw, _, tenant = env
    text = (INPUTS / f"{kind}.json").read_text("utf-8")
    filed = gw.file_site(tenant, kind, text)
    [order] = rows(gw, m.Order, id=filed.order_id)
    assert (order.kind, order.tenant_id, order.body, order.status) == (kind, tenant, text, st.IN_PROGRESS)
    document = data(kind)
    parties = {"logistics-status": "logistics", "entry-list": "operator", "return-tally": "operator",
               "summary": "declarant"}
    assert order.platform_code == document[parties[kind]]["code"]
    number = {"entry-list": document.get("entry_no"), "summary": document.get("summary_no")}.get(kind)
    assert order.order_no == number if number else re.fullmatch("SF[0-9A-F]{18}", order.order_no)
    entities = {"logistics-status": "statuses", "return-tally": "parcels"}
    expected = len(document[entities[kind]]) if kind in entities else 1
    filings = rows(gw, m.Filing, order_id=order.id)
    assert len(filings) == expected == len(filed.filings)
    assert {(f.message_type, f.sequence, f.agency) for f in filings} == {(KINDS[kind].message_type, 1, "customs")}
    assert len({f.business_key for f in filings}) == expected        # one receipt key per filing
    for f in filings:
        root = etree.fromstring(bytes(f.signed_bytes))
        if kind in entities:
            assert len(root) == 3                    # one entity, BaseTransfer, Signature
        assert root.findtext("c:BaseTransfer/c:copCode", namespaces=NS) == "4601980ABC"
    outbox = rows(gw, m.OutboxItem)
    assert sorted(o.filing_id for o in outbox) == sorted(f.id for f in filings)
    assert {(o.adapter, o.state) for o in outbox} == {("sandbox", "pending")}
    with gw.uow_factory() as uow:
        actions = [e.action for e in uow.audit.for_subject("order", order.id)]
    assert actions == ["order.received"]
    from gateway.service.replay import replay_order

    report = replay_order(gw.uow_factory, order.id, key=gw.key, record=False)
    assert report.error is not None and "not replayed yet" in report.error


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_sent_then_the_official_receipt_is_matched_and_applied(env, kind):
    gw, sandbox, tenant = env
    filed = gw.file_site(tenant, kind, data(kind))
    assert sent_only(gw).sent == len(filed.filings)
    for f in rows(gw, m.Filing, order_id=filed.order_id):
        assert f.state == st.SENT
        assert sandbox.received_bytes(f.guid) == bytes(f.signed_bytes)        # exactly the stored bytes
    _, _, final_code, final_state = RECEIPT[kind]
    from gateway.service.dispatch import RoundResult

    result = RoundResult()
    for i, f in enumerate(filed.filings):
        # the first by the guid it echoes, the others by business key alone (a guid the e-port made up)
        guid = None if i == 0 else f"E-PORT-{i:04d}"
        gw.dispatcher.ingest("sandbox", official_receipt(kind, f, "2", guid=guid, when="20261204100000000"),
                             f"{kind}-{i}-2", gw.clock.now(), result)
        gw.dispatcher.ingest("sandbox", official_receipt(kind, f, final_code, guid=guid, when="20261204110000000"),
                             f"{kind}-{i}-final", gw.clock.now(), result)
    assert (result.unmatched, result.quarantined, result.applied) == (0, 0, 2 * len(filed.filings))
    assert {f.state for f in rows(gw, m.Filing, order_id=filed.order_id)} == {final_state}
    view = gw.order(tenant, filed.order_id)
    assert (view["status"], view["agencies"]) == ("released", {"customs": "released"})
    assert all([r["status_code"] for r in f["receipts"]] == ["2", final_code] for f in view["filings"])


def test_each_parcel_is_answered_on_its_own_and_one_refused_makes_the_document_rejected(env):
    gw, _, tenant = env
    filed = gw.file_site(tenant, "return-tally", data("return-tally"))
    from gateway.service.dispatch import RoundResult

    assert sent_only(gw).sent == 2
    first, second = filed.filings
    gw.dispatcher.ingest("sandbox", official_receipt("return-tally", first, "100"), "r1", gw.clock.now(), RoundResult())
    gw.dispatcher.ingest("sandbox", official_receipt("return-tally", second, "399"), "r2", gw.clock.now(), RoundResult())
    states = {f.id: f.state for f in rows(gw, m.Filing, order_id=filed.order_id)}
    assert states == {first["id"]: st.REJECTED, second["id"]: st.CONCLUDED}
    view = gw.order(tenant, filed.order_id)
    assert (view["status"], view["status_reason"]) == ("rejected", "CEB215Message: [100] status 100")


def test_the_summary_goes_end_to_end_with_the_sandbox(env):
    gw, _, tenant = env
    filed = gw.file_site(tenant, "summary", data("summary"))
    gw.dispatcher.run_until_idle()
    [f] = rows(gw, m.Filing, order_id=filed.order_id)
    assert (f.state, f.last_status_code) == (st.CONCLUDED, "399")
    assert gw.order(tenant, filed.order_id)["status"] == "released"


def test_the_evidence_bundle_of_a_document_verifies_offline(env, signing_key, tmp_path):
    from gateway.audit.bundle import verify_bundle
    from gateway.service import audit as audit_service
    from gateway.service.evidence import export_order

    gw, _, tenant = env
    filed = gw.file_site(tenant, "summary", data("summary"))
    gw.dispatcher.run_until_idle()
    audit_service.make_checkpoint(gw.uow_factory, signing_key, gw.clock)
    path = export_order(gw.uow_factory, signing_key, gw.clock, filed.order_id, tmp_path / "summary.zip").path
    report = verify_bundle(path, trusted=[signing_key.certificate])
    assert report.ok, [str(f) for f in report.failures]


def test_the_same_document_again_is_the_same_one_and_a_changed_one_under_its_number_conflicts(env):
    gw, _, tenant = env
    first = gw.file_site(tenant, "entry-list", data("entry-list"))
    again = gw.file_site(tenant, "entry-list", json.dumps(data("entry-list")))
    assert (again.created, again.order_id, again.filings) == (False, first.order_id, first.filings)
    changed = data("entry-list")
    changed["note"] = "another"
    with pytest.raises(OrderConflict):
        gw.file_site(tenant, "entry-list", changed)
    flat = gw.file_site(tenant, "logistics-status", data("logistics-status"))
    assert gw.file_site(tenant, "logistics-status", data("logistics-status")).order_id == flat.order_id
    with gw.uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(m.Filing)) == 1 + 2


def test_refused_documents_store_nothing(env):
    gw, _, tenant = env
    d = data("return-tally")
    d["operator"]["code"] = "4403999ZZZ"
    del d["bill_no"]
    with pytest.raises(OrderInvalid) as exc:
        gw.file_site(tenant, "return-tally", d)
    assert [(p.path, p.rule) for p in exc.value.problems] == [("$.bill_no", "schema:required")]
    d = data("return-tally")
    d["operator"]["code"] = "4403999ZZZ"
    with pytest.raises(OrderInvalid) as exc:
        gw.file_site(tenant, "return-tally", d)
    assert [(p.path, p.rule) for p in exc.value.problems] == [("$.operator.code", "enterprise-not-registered")]
    with gw.uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(m.Order)) == 0
        assert uow.session.scalar(select(func.count()).select_from(m.OutboxItem)) == 0


# -- the API: POST /v1/site-filings/<kind> ---------------------------------------------------------------

@pytest.fixture
def api(env):
    from gateway.api import create_app

    gw, _, tenant = env
    return gw, create_app(gw, {"TESTING": True}).test_client(), {"Authorization": f"Bearer {gw.test_api_key}"}


def _post(client, headers, kind, body, **extra):
    return client.post(f"/v1/site-filings/{kind}", data=body.encode() if isinstance(body, str) else body,
                       headers={**headers, "Content-Type": "application/json", **extra})


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_api_stores_each_kind_and_the_document_reads_like_an_order(api, kind):
    gw, client, auth = api
    text = (INPUTS / f"{kind}.json").read_text("utf-8")
    r = _post(client, auth, kind, text)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["kind"] == kind and body["filings"] and body["links"]["self"] == f"/v1/orders/{body['id']}"
    view = client.get(body["links"]["self"], headers=auth).get_json()
    assert (view["kind"], view["order_no"], view["status"]) == (kind, body["number"], "in_progress")
    assert [f["id"] for f in view["filings"]] == [f["id"] for f in body["filings"]]
    again = _post(client, auth, kind, text)
    assert (again.status_code, again.get_json()["id"]) == (200, body["id"])
    listed = client.get("/v1/orders", headers=auth).get_json()["orders"]
    assert [(o["id"], o["regime"]) for o in listed] == [(body["id"], KINDS[kind].message_type[:6])]


def test_the_api_refuses_with_problem_json_naming_field_and_rule_and_stores_nothing(api):
    gw, client, auth = api
    d = data("entry-list")
    del d["bill_no"]
    d["parcels"].append(dict(d["parcels"][0]))
    r = _post(client, auth, "entry-list", json.dumps(d))
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert {(p["path"], p["rule"]) for p in r.get_json()["problems"]} >= {("$.bill_no", "schema:required")}
    d = data("summary")
    d["declarant"]["code"] = "4403999ZZZ"
    r = _post(client, auth, "summary", json.dumps(d))
    assert r.status_code == 422
    assert [(p["path"], p["rule"]) for p in r.get_json()["problems"]] == [
        ("$.declarant.code", "enterprise-not-registered")]
    assert _post(client, auth, "entry-list", "[1]").status_code == 422
    assert _post(client, {}, "entry-list", json.dumps(data("entry-list"))).status_code == 401
    assert _post(client, auth, "no-such-kind", "{}").status_code == 404
    with gw.uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(m.Order)) == 0
    changed = data("entry-list")
    assert _post(client, auth, "entry-list", json.dumps(changed)).status_code == 201
    changed["note"] = "another"
    r = _post(client, auth, "entry-list", json.dumps(changed))
    assert (r.status_code, r.get_json()["type"].rsplit("/", 1)[-1]) == (409, "order-conflict")


def test_the_api_honours_the_idempotency_key(api):
    gw, client, auth = api
    first = _post(client, auth, "logistics-status", json.dumps(data("logistics-status")), **{"Idempotency-Key": "k1"})
    again = _post(client, auth, "logistics-status", json.dumps(data("logistics-status")), **{"Idempotency-Key": "k1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.get_json() == first.get_json()


# -- the CLI: gateway file KIND INPUT --tenant T --submit ----------------------------------------------------

def test_the_cli_stores_and_queues_with_submit(env, tmp_path, sqlite_url, monkeypatch, capsys):
    from gateway.cli import main

    gw, _, tenant = env
    monkeypatch.setenv("GATEWAY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("GATEWAY_INSTANCE_DIR", str(tmp_path / "instance"))

    def run(*args):
        code = main(["file", "entry-list", *args])
        out = capsys.readouterr()
        return code, out.out + out.err

    document = str(INPUTS / "entry-list.json")
    code, out = run(document, "--submit")
    assert code == 2 and "--tenant T" in out
    assert run(document, "--tenant", tenant, "--submit", "--out", "x.xml")[0] == 2
    code, out = run(document, "--tenant", tenant, "--submit")
    assert code == 0, out
    assert "entry-list RK2026112000015" in out and "stored, queued: 1 filing(s) CEB711Message" in out
    [order] = rows(gw, m.Order)
    assert (order.kind, order.order_no) == ("entry-list", "RK2026112000015")
    [item] = rows(gw, m.OutboxItem)
    assert (item.adapter, item.state) == ("sandbox", "pending")
    code, out = run(document, "--tenant", tenant, "--submit")
    assert code == 0 and "already stored" in out
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps({**data("entry-list"), "note": "another"}), "utf-8")
    code, out = run(str(changed), "--tenant", tenant, "--submit")
    assert code == 2 and "already submitted with different content" in out
