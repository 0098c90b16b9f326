"""Intake in batches (SQLite and PostgreSQL): a batch sent again is answered from what was stored, with the
same statements whether it holds 4 or 12 orders (no query per order), and each answer names the filings of
its own order."""
from __future__ import annotations

from lxml import etree
from sqlalchemy import event

from gateway.service.declare import Declarer, FilingInvalid
from gateway.service.orders import SIGN_TOGETHER, submit_batch
from gateway.store import models as m
from tests.delivery_helpers import many_orders
from tests.helpers import add_tenant, make_gateway


def test_a_batch_sent_again_is_answered_without_a_query_per_order(tmp_path, db_url, signing_key):
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    statements: list[str] = []
    event.listen(gw.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: statements.append(statement))
    counts, answers = {}, {}
    for n, start in ((4, 0), (12, 100)):
        orders = many_orders(n, start, skip=("9610-over-single-limit.json",))
        first = gw.submit_batch(tenant, orders)
        assert all(i.error is None and i.submitted.created for i in first), [i.error for i in first]
        statements.clear()
        again = gw.submit_batch(tenant, orders)
        counts[n] = len(statements)
        assert [i.submitted.order_id for i in again] == [i.submitted.order_id for i in first]
        assert all(not i.submitted.created for i in again)
        assert [i.submitted.filing_ids for i in again] == [i.submitted.filing_ids for i in first]
        answers[n] = again
    assert counts[12] == counts[4], counts          # not one more round trip per order
    ids = [fid for i in answers[12] for fid in i.submitted.filing_ids.values()]
    assert len(ids) == len(set(ids))                # each order answered with its own filings


def test_a_message_the_schema_refuses_fails_its_own_order_only(tmp_path, db_url, signing_key):
    """Batch intake signs the filings of ``SIGN_TOGETHER`` orders in one go (Declarer.prepare, then
    sign_prepared): an order one of whose signed messages the XSD refuses gets its FilingInvalid, naming
    that message, on either side of a group's edge, and every other order of the batch is stored."""
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    broken = {3, SIGN_TOGETHER + 2}

    class Breaks(Declarer):
        def __init__(self, inner):
            super().__init__(inner.signer, inner.ids, inner.signers)
            self.prepared = 0

        def prepare(self, order, **kw):
            prepared = super().prepare(order, **kw)
            if self.prepared in broken:       # an element the schema does not know, after the 三单对碰 check
                root = prepared.filings[1][1]
                etree.SubElement(root, f"{{{etree.QName(root).namespace}}}Bogus")
            self.prepared += 1
            return prepared

    orders = many_orders(SIGN_TOGETHER + 8, 500, skip=("9610-over-single-limit.json",))
    items = submit_batch(gw.uow_factory, Breaks(gw.declarer), gw.key, gw.clock, gw.ids, tenant, orders)
    refused = [i.index for i in items if i.error is not None]
    assert refused == sorted(broken), [i.error for i in items]
    for index in broken:
        error = items[index].error
        assert isinstance(error, FilingInvalid) and {p.rule for p in error.problems} == {"xsd"}
        assert "Bogus" in str(error)
    assert all(i.submitted is not None and i.submitted.created for i in items if i.index not in broken)
    with gw.uow_factory() as uow:
        assert uow.session.query(m.Order).count() == len(orders) - len(broken)
