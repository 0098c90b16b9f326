"""The sender's fixed statements (sender.py), built once with expanding bind parameters instead of
once per batch with the batch's ids as literals: SQLAlchemy then finds each compiled statement in its
cache by the same key every round, and none is rebuilt (coerced, keyed) per batch.

Plain Core statements on the tables where the ORM would only add its bulk-update bookkeeping (no
object of these rows is in the session when they run: ``synchronize_session`` was off before too).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, select, update

from gateway.domain import status as st
from gateway.store.models import Filing, OutboxItem

_outbox: Table = OutboxItem.__table__      # type: ignore[assignment]
_filings: Table = Filing.__table__         # type: ignore[assignment]
_ids: Any = bindparam("ids", expanding=True)


# claim: mark the claimed rows in flight (bound: ids, owner, token, lease_end)
CLAIM = (update(_outbox).where(_outbox.c.id.in_(_ids))
         .values(attempts=_outbox.c.attempts + 1, claimed_by=bindparam("owner"), claim_token=bindparam("token"),
                 claimed_until=bindparam("lease_end"), next_attempt_at=bindparam("lease_end"), in_doubt=True))

# the filings of the batch's orders that ``_blockers`` reads (bound: tenants, orders)
ORDER_FILINGS = (select(Filing.tenant_id, Filing.order_id, Filing.sequence, Filing.message_type, Filing.state,
                        Filing.agency)
                 .where(Filing.tenant_id.in_(bindparam("tenants", expanding=True)),
                        Filing.order_id.in_(bindparam("orders", expanding=True))))

# release: give back rows not sent (bound: ids, tokens, was_in_doubt, now)
RELEASE = (update(_outbox)
           .where(_outbox.c.id.in_(_ids), _outbox.c.claim_token.in_(bindparam("tokens", expanding=True)))
           .values(attempts=_outbox.c.attempts - 1, claimed_by=None, claim_token=None, claimed_until=None,
                   in_doubt=bindparam("was_in_doubt"), next_attempt_at=bindparam("now")))

# record: the rows' claim tokens (fencing), in id order (bound: ids); ``TOKENS_LOCKED`` on PostgreSQL
TOKENS = select(OutboxItem.id, OutboxItem.claim_token).where(OutboxItem.id.in_(_ids)).order_by(OutboxItem.id)
TOKENS_LOCKED = TOKENS.with_for_update()

# record, sent or already there: the filings as they were (bound: ids) ...
BEFORE_SENT = select(Filing.id, Filing.tenant_id, Filing.order_id, Filing.message_type, Filing.agency, Filing.guid,
                     Filing.state, Filing.last_status_code).where(Filing.id.in_(_ids))
# ... the outbox rows sent (bound: ids, now) ...
OUTBOX_SENT = (update(_outbox).where(_outbox.c.id.in_(_ids))
               .values(claimed_by=None, claim_token=None, claimed_until=None, state="sent",
                       sent_at=bindparam("now"), last_error=None, in_doubt=False, next_attempt_at=bindparam("now")))
# ... and the filings not sent before, sent now (bound: ids, now)
FILINGS_SENT = (update(_filings).where(_filings.c.id.in_(_ids))
                .values(state=st.SENT, updated_at=bindparam("now")))
