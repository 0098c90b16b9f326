"""Webhooks: a tenant's URLs receive every state change of its orders as signed JSON.

- Events are enqueued (``webhook_deliveries``, the webhook outbox) by ``WebhookEvents.emit`` in the
  same transaction as the change they describe: no change without its event, no event without its
  change. In a ``WebhookEvents.batch`` block (a dispatcher's batch of sends or receipts) a batch's
  deliveries are inserted together, with one statement, when the block ends.
- ``WebhookDeliverer`` claims due deliveries (a lease, like the filing outbox; ``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL), POSTs them outside any transaction, and records each attempt. A failed
  attempt is retried with exponential backoff and jitter until ``max_attempts``; each delivery has
  its own schedule, so one dead endpoint never delays another.
- The body is fixed when the event is enqueued; every attempt sends the same bytes. Signed the
  Standard Webhooks way (standardwebhooks.com): the timestamp is signed with the body, so a
  captured request cannot be replayed later with a fresh timestamp. Headers:

      Content-Type: application/json
      webhook-id: <event id>                  (the same on every attempt: deduplicate on it)
      webhook-timestamp: <unix seconds of this attempt>
      webhook-signature: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">
      X-Gateway-Event-Type: filing.state_changed | order.status_changed
      X-Gateway-Delivery-Attempt: <n>

  The HMAC key is the base64 part of the secret after ``whsec_`` (the standard's secret format).
- URLs are checked against internal addresses when registered and again before every POST
  (``gateway.egress``); a tenant registers one webhook per URL and picks the event types it
  wants (default: all). The delivery log tells the tenant only "delivered", "failed (status N)"
  or "unreachable"; what went wrong on the wire is in the operator's log.

Delivery is at least once and not ordered across events: receivers deduplicate by event id and
use the body's ``occurred_at`` and the states it names (a filing state only moves forward).
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, and_, func, insert, select, update

from gateway.egress import EgressPolicy, EgressRefused
from gateway.ports import PostResult, WebhookPoster
from gateway.service import listing
from gateway.service.listing import Page
from gateway.store.models import Webhook, WebhookAttempt, WebhookDelivery

from .backoff import Backoff
from .leases import LeasedWorker
from .webhook_rules import (  # noqa: F401  (sign, verify_signature, check_url: the module's public face)
    ALL_EVENTS,
    EVENT_FILING,
    EVENT_ORDER,
    EVENT_TYPES,
    SIGNATURE_HEADER,
    WebhookConflict,
    WebhookInvalid,
    check_events,
    check_url,
    new_secret,
    outcome,
    sign,
    subscribed,
    verify_signature,
)
from .webhook_secrets import SecretBox, SecretsError

log = logging.getLogger("gateway.webhooks")


# ---- enqueueing (in the caller's transaction) ---------------------------------------------------
STAGED_DELIVERIES = "gateway.webhook_deliveries"      # rows waiting for the end of a ``WebhookEvents.batch``
_INSERT_DELIVERIES = insert(cast(Table, WebhookDelivery.__table__))


class WebhookEvents:
    def __init__(self, clock, ids=None):
        self.clock = clock
        self.ids = ids

    def _new_id(self) -> str:
        return self.ids.new_guid() if self.ids is not None else str(uuid.uuid4()).upper()

    def emit(self, uow, tenant_id: str, event_type: str, data: dict) -> int:
        """Enqueue one event for each of the tenant's webhooks; returns how many deliveries."""
        cache = uow.session.info.setdefault("gateway.webhooks", {})   # per transaction
        hooks = cache.get(tenant_id)
        if hooks is None:
            hooks = cache[tenant_id] = uow.session.execute(
                select(Webhook.id, Webhook.event_types)
                .where(Webhook.tenant_id == tenant_id, Webhook.deleted_at.is_(None))).all()
        hooks = [hook_id for hook_id, types in hooks if subscribed(types, event_type)]
        if not hooks:
            return 0
        now = self.clock.now()
        event_id = self._new_id()
        body = json.dumps({"id": event_id, "type": event_type, "occurred_at": now.isoformat(),
                           "tenant_id": tenant_id, "data": data},
                          ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
        staged = uow.session.info.get(STAGED_DELIVERIES)
        for hook_id in hooks:
            row = dict(tenant_id=tenant_id, webhook_id=hook_id, event_id=event_id, event_type=event_type, body=body,
                       state="pending", attempts=0, next_attempt_at=now, created_at=now)
            if staged is not None:
                staged.append(row)
            else:
                uow.session.add(WebhookDelivery(**row))
        return len(hooks)

    @contextmanager
    def batch(self, uow):
        """Within the block, the deliveries of the events emitted are kept as plain rows and inserted
        together when it ends, with one Core INSERT (in the emitting order, so in the same id order as
        one by one); nothing is inserted if the block raises (its transaction is rolled back). A block
        inside another one leaves its rows to the outer block."""
        info = uow.session.info
        if STAGED_DELIVERIES in info:
            yield
            return
        staged: list[dict] = []
        info[STAGED_DELIVERIES] = staged
        try:
            yield
        finally:
            info.pop(STAGED_DELIVERIES, None)
        if staged:
            uow.session.flush()         # deliveries added one by one before the block keep their lower ids
            uow.session.connection().execute(_INSERT_DELIVERIES, staged)


# ---- delivering ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Claimed:
    id: int
    token: str
    url: str
    secret: str
    event_id: str
    event_type: str
    body: bytes
    attempt: int


class WebhookDeliverer(LeasedWorker):
    def __init__(self, uow_factory, clock, poster: WebhookPoster | None, *, owner: str, backoff: Backoff,
                 lease_seconds: float = 60.0, timeout_seconds: float = 10.0, max_attempts: int = 15,
                 batch_size: int = 50, secrets: SecretBox | None = None):
        super().__init__(uow_factory, clock, backoff, owner=owner, lease_seconds=lease_seconds, batch_size=batch_size)
        self.poster = poster
        self.timeout_seconds = timeout_seconds
        self.max_attempts = max_attempts
        self.secrets = secrets or SecretBox(None)

    def deliver_due(self, result) -> None:
        poster = self.poster
        if poster is None:
            return
        start_by = self.start_by(self.clock.now())
        items = self._claim()
        for i, item in enumerate(items):
            if i and self.clock.now() >= start_by:   # half the lease gone: give the rest back
                self._release(items[i:])
                break
            self._record(item, self._post(poster, item), result)

    def _release(self, items: list[_Claimed]) -> None:
        now = self.clock.now()
        with self.uow_factory() as uow:
            for item in items:
                d = uow.session.get(WebhookDelivery, item.id)
                if d is not None and d.claim_token == item.token:
                    d.attempts -= 1
                    d.claimed_by = d.claim_token = d.claimed_until = None
                    d.next_attempt_at = now
            uow.commit()

    def _claim(self) -> list[_Claimed]:
        now = self.clock.now()
        with self.uow_factory() as uow:
            stmt = (select(WebhookDelivery, Webhook)
                    .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                    .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                    .limit(self.batch_size))
            if uow.session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True, of=WebhookDelivery)
            claimed = []
            secrets: dict[str, str | SecretsError] = {}     # each hook's secret opened once per claim
            for d, hook in uow.session.execute(stmt).all():
                if hook.deleted_at is not None:
                    d.state, d.last_error = "cancelled", "webhook deleted"
                    continue
                if hook.id not in secrets:
                    try:
                        secrets[hook.id] = self.secrets.open(hook.id, hook.secret)
                    except SecretsError as exc:
                        secrets[hook.id] = exc
                secret = secrets[hook.id]
                if isinstance(secret, SecretsError):
                    # start-up checks this; a row altered since stays pending, retried later with backoff so
                    # that it does not take the head of every claim from the other webhooks
                    log.error("webhook delivery %s not sent: %s", d.id, secret)
                    d.last_error = f"secret unreadable: {secret}"[:4000]
                    d.next_attempt_at = now + timedelta(seconds=self.backoff.delay(d.attempts))
                    continue
                token = str(uuid.uuid4())
                d.attempts += 1
                d.claimed_by, d.claim_token = self.owner, token
                d.claimed_until = d.next_attempt_at = self.lease_end(now)
                claimed.append(_Claimed(d.id, token, hook.url, secret, d.event_id, d.event_type,
                                        bytes(d.body), d.attempts))
            uow.commit()
        return claimed

    def _post(self, poster: WebhookPoster, item: _Claimed) -> tuple[PostResult, int]:
        stamp = int(self.clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "gateway-webhooks/2",
            "webhook-id": item.event_id,
            "webhook-timestamp": str(stamp),
            SIGNATURE_HEADER: sign(item.secret, item.event_id, stamp, item.body),
            "X-Gateway-Event-Type": item.event_type,
            "X-Gateway-Delivery-Attempt": str(item.attempt),
        }
        started = time.monotonic()
        try:
            res = poster.post(item.url, item.body, headers, self.timeout_seconds)
        except Exception:  # a poster bug must not stop the round; logged for the operator
            log.exception("webhook delivery %s: the poster failed", item.id)
            res = PostResult(None, "poster error")
        return res, int((time.monotonic() - started) * 1000)

    def _record(self, item: _Claimed, posted: tuple[PostResult, int], result) -> None:
        res, millis = posted
        now = self.clock.now()
        error = outcome(res)        # what the tenant may see; res.error stays in the operator's log
        ok = error is None
        with self.uow_factory() as uow:
            d = uow.session.get(WebhookDelivery, item.id)
            if d is None or d.claim_token != item.token:
                log.warning("webhook delivery %s: lease lost before recording (another worker took it)", item.id)
                return
            uow.session.add(WebhookAttempt(delivery_id=d.id, tenant_id=d.tenant_id, attempt=item.attempt, at=now,
                                           status_code=res.status, error=error, duration_ms=millis))
            d.claimed_by = d.claim_token = d.claimed_until = None
            d.last_status, d.last_error = res.status, error
            if ok:
                d.state, d.delivered_at, d.next_attempt_at = "delivered", now, now
                result.webhooks_delivered += 1
            elif d.attempts >= self.max_attempts:
                d.state = "failed"
                result.webhooks_failed += 1
                log.warning("webhook delivery %s (event %s) given up after %d attempts: %s", d.id, d.event_id,
                            d.attempts, error)
            else:
                d.next_attempt_at = now + timedelta(seconds=self.backoff.delay(d.attempts))
                result.webhooks_retried += 1
            uow.commit()


# ---- management (API and CLI) --------------------------------------------------------------------
class WebhookNotFound(LookupError):
    pass


def register(uow_factory, clock, ids, tenant_id: str, url, description="", *, events=None,
             egress: EgressPolicy | None = None, secrets: SecretBox | None = None) -> tuple[dict, str]:
    """Register a URL; returns (view, secret). The secret is shown this once. Refused: a URL that
    points to an internal address (``egress``, default: public addresses on web ports only), one
    the tenant already registered (WebhookConflict). The secret is stored sealed (``secrets``)."""
    url = check_url(url)
    event_types = check_events(events)
    try:
        (egress or EgressPolicy()).vet(url)
    except EgressRefused as exc:
        raise WebhookInvalid(str(exc)) from None
    description = str(description or "")[:200]
    secret = new_secret()
    now = clock.now()
    hook_id = ids.new_guid() if ids is not None else str(uuid.uuid4()).upper()
    with uow_factory() as uow:
        taken = uow.session.scalar(select(Webhook.id).where(Webhook.tenant_id == tenant_id, Webhook.url == url,
                                                            Webhook.deleted_at.is_(None)))
        if taken is not None:
            raise WebhookConflict(f"this URL is already registered (webhook {taken}); delete it first or use it")
        stored = (secrets or SecretBox(None)).seal(hook_id, secret)
        uow.session.add(Webhook(id=hook_id, tenant_id=tenant_id, url=url, secret=stored, description=description,
                                event_types=event_types, created_at=now))
        uow.audit.record(tenant_id, "webhook", hook_id, "webhook.registered", {"url": url, "events": event_types})
        uow.commit()
    return get(uow_factory, tenant_id, hook_id), secret


def _hook(uow, tenant_id: str, hook_id: str, include_deleted: bool = False) -> Webhook:
    hook = uow.session.scalar(select(Webhook).where(Webhook.tenant_id == tenant_id, Webhook.id == hook_id))
    if hook is None or (hook.deleted_at is not None and not include_deleted):
        raise WebhookNotFound(f"webhook {hook_id}")
    return hook


def _view(uow, hook: Webhook) -> dict:
    counts = dict(uow.session.execute(select(WebhookDelivery.state, func.count())
                                      .where(WebhookDelivery.webhook_id == hook.id)
                                      .group_by(WebhookDelivery.state)).all())
    return {"id": hook.id, "url": hook.url, "description": hook.description,
            "events": EVENT_TYPES if hook.event_types == ALL_EVENTS else hook.event_types.split(","),
            "created_at": hook.created_at.isoformat(),
            "deleted_at": hook.deleted_at.isoformat() if hook.deleted_at else None,
            "deliveries": {s: counts.get(s, 0) for s in ("pending", "delivered", "failed", "cancelled")}}


def get(uow_factory, tenant_id: str, hook_id: str) -> dict:
    with uow_factory() as uow:
        return _view(uow, _hook(uow, tenant_id, hook_id))


def list_hooks(uow_factory, tenant_id: str, cursor: str | None = None, limit: int = listing.MAX_LIMIT) -> Page:
    """The tenant's webhooks (not deleted), oldest first, one page (service.listing)."""
    with uow_factory() as uow:
        stmt = select(Webhook).where(Webhook.tenant_id == tenant_id, Webhook.deleted_at.is_(None))
        return listing.keyset_page(uow.session, stmt, (Webhook.created_at, Webhook.id), kind="webhooks", filters={},
                                   cursor=cursor, limit=limit, view=lambda rows: [_view(uow, h) for h in rows])


def delete(uow_factory, clock, tenant_id: str, hook_id: str) -> None:
    """Stop delivering to the URL: the webhook is marked deleted (its delivery log stays readable)
    and its pending deliveries are cancelled."""
    now = clock.now()
    with uow_factory() as uow:
        hook = _hook(uow, tenant_id, hook_id)
        hook.deleted_at = now
        uow.session.execute(update(WebhookDelivery)
                            .where(and_(WebhookDelivery.webhook_id == hook_id, WebhookDelivery.state == "pending"))
                            .values(state="cancelled", last_error="webhook deleted"))
        uow.audit.record(tenant_id, "webhook", hook_id, "webhook.deleted", {"url": hook.url})
        uow.commit()


def deliveries(uow_factory, tenant_id: str, hook_id: str, limit: int = 100, state: str | None = None,
               cursor: str | None = None) -> Page:
    """The delivery log of one webhook, newest first, each with its attempts; one page (service.listing)."""
    with uow_factory() as uow:
        _hook(uow, tenant_id, hook_id, include_deleted=True)
        stmt = select(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.webhook_id == hook_id)
        if state:
            stmt = stmt.where(WebhookDelivery.state == state)
        return listing.keyset_page(uow.session, stmt, (WebhookDelivery.id,), kind="webhook-deliveries",
                                   filters={"webhook": hook_id, "state": state}, cursor=cursor, limit=limit,
                                   descending=True, view=lambda rows: _delivery_views(uow, rows))


def _delivery_views(uow, rows: list) -> list[dict]:
    attempts: dict[int, list] = {}
    if rows:
        for a in uow.session.scalars(select(WebhookAttempt)
                                     .where(WebhookAttempt.delivery_id.in_([r.id for r in rows]))
                                     .order_by(WebhookAttempt.id)):
            attempts.setdefault(a.delivery_id, []).append(
                {"attempt": a.attempt, "at": a.at.isoformat(), "status_code": a.status_code, "error": a.error,
                 "duration_ms": a.duration_ms})
    return [{"id": r.id, "event_id": r.event_id, "event_type": r.event_type, "state": r.state,
             "attempts": r.attempts, "last_status": r.last_status, "last_error": r.last_error,
             "created_at": r.created_at.isoformat(),
             "delivered_at": r.delivered_at.isoformat() if r.delivered_at else None,
             "next_attempt_at": r.next_attempt_at.isoformat() if r.state == "pending" else None,
             "event": json.loads(bytes(r.body)), "log": attempts.get(r.id, [])} for r in rows]


