"""Which channel carries which message (docs/adapters.md "Channels").

Customs filings go out on the tenant's channel. The records of the other agencies (inspection, tax,
FX) go out on the channel the configuration names for that agency — per tenant
(``"tenants": {"T": {"customs": "a", "tax": null}}``), then for every tenant (``"agencies"``) — and
otherwise on the tenant's customs channel. ``null`` means no channel: such a record is signed and
kept, marked "prepared, not transmitted (no channel)"; it never blocks a customs filing and never
makes the order rejected. Corrections and reversals follow the same routes as what they change.
"""
from __future__ import annotations

from collections.abc import Mapping

from gateway.domain import status as st
from gateway.store.models import AGENCIES

CUSTOMS = "customs"


def route(entry: str | Mapping | None, agency_channels: Mapping, default: str, agency: str) -> str | None:
    """The channel name for ``agency`` given the tenant's entry of the channels file (a channel name,
    a mapping agency -> name or None, or nothing), the channels named per agency for every tenant, and
    the default channel."""
    if isinstance(entry, Mapping):
        customs = entry.get(CUSTOMS) or default
        if agency in entry:
            return entry[agency] if agency != CUSTOMS else customs
    else:
        customs = entry or default
    if agency == CUSTOMS:
        return customs
    if agency in agency_channels:
        return agency_channels[agency]
    return customs


def routes(entry, agency_channels: Mapping, default: str) -> dict[str, str | None]:
    """Every agency's channel for one tenant."""
    return {agency: route(entry, agency_channels, default, agency) for agency in AGENCIES}


def channel_of(channels: str | Mapping[str, str | None], agency: str) -> str | None:
    """A single channel name (every agency on it), or the per-agency table ``routes`` gives."""
    if isinstance(channels, str):
        return channels
    return channels.get(agency, channels.get(CUSTOMS))


def initial_state(channel: str | None) -> str:
    return st.PENDING if channel is not None else st.NOT_TRANSMITTED


def outbox_row(uow, *, tenant_id: str, filing_id: str, message_type: str, channel: str | None, now) -> dict | None:
    """The outbox row (a dict for one INSERT of many, ``filing_rows.FilingRows``) of a new filing on
    ``channel``; with no channel, None and the audit record that it was prepared and not transmitted
    (its state is ``initial_state(None)``)."""
    if channel is None:
        uow.audit.record(tenant_id, "filing", filing_id, "filing.not_transmitted",
                         {"message_type": message_type, "reason": st.NO_CHANNEL})
        return None
    return {"tenant_id": tenant_id, "filing_id": filing_id, "adapter": channel, "state": "pending", "attempts": 0,
            "next_attempt_at": now, "created_at": now}

