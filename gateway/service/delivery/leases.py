"""What the two outbox workers share, the filing sender (sender.py) and the webhook deliverer
(webhooks.py): each claims a batch of due rows under its owner's name with a lease, works on them
outside any transaction, gives back the rows it has not started by the middle of the lease, and
reschedules a failure with its backoff."""
from __future__ import annotations

from datetime import datetime, timedelta

from .backoff import Backoff


class LeasedWorker:
    def __init__(self, uow_factory, clock, backoff: Backoff, *, owner: str, lease_seconds: float, batch_size: int):
        self.uow_factory = uow_factory
        self.clock = clock
        self.backoff = backoff
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size

    def lease_end(self, claimed_at: datetime) -> datetime:
        """Until when a claim made at ``claimed_at`` holds its rows (then they come due again by themselves)."""
        return claimed_at + timedelta(seconds=self.lease_seconds)

    def start_by(self, claimed_at: datetime) -> datetime:
        """A row may be started only in the first half of its lease: with the lease at least twice the
        longest send, every send ends before another worker may take its row over."""
        return claimed_at + timedelta(seconds=self.lease_seconds / 2)
