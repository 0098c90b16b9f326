"""Intake in batches (SQLite and PostgreSQL): a batch sent again is answered from what was stored, with the
same statements whether it holds 4 or 12 orders (no query per order), and each answer names the filings of
its own order."""
from __future__ import annotations

from sqlalchemy import event

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
