"""What the operator's gauges read from the database at scrape time (``/metrics``, ``/readyz``):
a handful of aggregate queries, each one statement, none per row.

- filings by state; the outbox by adapter (pending depth, oldest pending age); breakers' states;
  webhook deliveries waiting; receipts in quarantine (quarantined, unmatched); signing keys'
  latest expiry per tenant and channel.
- ``recent_latencies``: average and maximum dispatch latency (filing stored → sent) and receipt
  latency (sent → receipt received) over the last few minutes, computed in SQL. These scan
  the rows sent / received in the window (no index on ``sent_at`` / ``received_at``): cheap at
  thousands of rows a minute, to be revisited with an index if a window holds millions.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, select, text

from gateway.store.models import Breaker, Filing, OutboxItem, Receipt, SigningKey, WebhookDelivery

LATENCY_WINDOW_SECONDS = 300


def ping(conn: Connection) -> None:
    conn.execute(text("SELECT 1"))


def filings_by_state(conn: Connection) -> dict[str, int]:
    return dict(conn.execute(select(Filing.state, func.count()).group_by(Filing.state)).all())


def outbox_pending(conn: Connection) -> dict[str, tuple[int, datetime | None]]:
    """adapter -> (pending rows, created_at of the oldest pending row)."""
    rows = conn.execute(select(OutboxItem.adapter, func.count(), func.min(OutboxItem.created_at))
                        .where(OutboxItem.state == "pending").group_by(OutboxItem.adapter))
    return {adapter: (count, _aware(oldest)) for adapter, count, oldest in rows}


def breakers(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(select(Breaker.adapter, Breaker.state)).all())


def webhook_backlog(conn: Connection) -> int:
    return conn.execute(select(func.count()).where(WebhookDelivery.state == "pending")).scalar_one()


def receipts_quarantined(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(Receipt.outcome, func.count())
                        .where(Receipt.outcome.in_(("quarantined", "unmatched"))).group_by(Receipt.outcome))
    return {"quarantined": 0, "unmatched": 0, **dict(rows.all())}


def key_expiry(conn: Connection) -> dict[tuple[str, str], datetime]:
    """(tenant id, channel) -> the latest not_after among its stored keys."""
    rows = conn.execute(select(SigningKey.tenant_id, SigningKey.channel, func.max(SigningKey.not_after))
                        .group_by(SigningKey.tenant_id, SigningKey.channel))
    return {(tenant, channel): _aware(when) for tenant, channel, when in rows}


def recent_latencies(conn: Connection, now: datetime, window: float = LATENCY_WINDOW_SECONDS) -> dict[str, tuple]:
    """{"dispatch": (avg, max, count), "receipt": (avg, max, count)} in seconds over the window."""
    since = now - timedelta(seconds=window)
    seconds = _seconds_between(conn)
    dispatch = conn.execute(select(func.avg(seconds(OutboxItem.created_at, OutboxItem.sent_at)),
                                   func.max(seconds(OutboxItem.created_at, OutboxItem.sent_at)), func.count())
                            .where(OutboxItem.sent_at.is_not(None), OutboxItem.sent_at >= since)).one()
    receipt = conn.execute(select(func.avg(seconds(OutboxItem.sent_at, Receipt.received_at)),
                                  func.max(seconds(OutboxItem.sent_at, Receipt.received_at)), func.count())
                           .join(OutboxItem, OutboxItem.filing_id == Receipt.filing_id)
                           .where(Receipt.received_at >= since, OutboxItem.sent_at.is_not(None))).one()
    return {"dispatch": tuple(dispatch), "receipt": tuple(receipt)}


def _seconds_between(conn: Connection):
    if conn.dialect.name == "sqlite":     # naive ISO text in UTC (gateway.store.models.UTCDateTime)
        return lambda a, b: (func.julianday(b) - func.julianday(a)) * 86400.0
    return lambda a, b: func.extract("epoch", b - a)


def _aware(value):
    """SQLite aggregates return the stored text or a naive datetime; both are UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
