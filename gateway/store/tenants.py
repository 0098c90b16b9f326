"""Tenants and API keys.

A key looks like ``gw_`` + ``secrets.token_urlsafe(32)``. Only its first 8 characters (for
lookup) and the sha256 hex of the whole key are stored; the plain key is shown once, to the
caller of ``create_tenant`` / ``issue_api_key``, and never again.

These helpers add rows to the caller's unit of work and do not commit:

    with uow:
        tenant, plain_key = create_tenant(uow, "Shop", "3301964J31", "Shop Ltd", "DXPENT0000012345")
        uow.commit()
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from gateway.store.models import ApiKey, Tenant, TenantEnterprise, utcnow

if TYPE_CHECKING:
    from gateway.store.uow import UnitOfWork

API_KEY_SCHEME = "gw_"
API_KEY_PREFIX_LENGTH = 8


def generate_api_key() -> str:
    return API_KEY_SCHEME + secrets.token_urlsafe(32)


def hash_api_key(plain_key: str) -> str:
    return hashlib.sha256(plain_key.encode("utf-8")).hexdigest()


def key_prefix(plain_key: str) -> str:
    return plain_key[:API_KEY_PREFIX_LENGTH]


def _new_id() -> str:
    return str(uuid.uuid4()).upper()


def _check_length(field: str, value: str, limit: int) -> None:
    # PostgreSQL enforces VARCHAR lengths, SQLite does not: check here so both behave alike.
    if not value or len(value) > limit:
        raise ValueError(f"{field} must be 1..{limit} characters, got {len(value or '')}")


def issue_api_key(
    uow: UnitOfWork,
    tenant_id: str,
    label: str = "",
    *,
    api_key_id: str | None = None,
    now: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Add a new API key for ``tenant_id``; returns (row, plain key). Does not commit."""
    plain = generate_api_key()
    row = ApiKey(
        id=api_key_id or _new_id(),
        tenant_id=tenant_id,
        prefix=key_prefix(plain),
        key_hash=hash_api_key(plain),
        label=label,
        created_at=now or utcnow(),
        revoked_at=None,
    )
    uow.api_keys.add(row)
    uow.audit.record(tenant_id, "api_key", row.id, "api_key.issued", {"prefix": row.prefix, "label": label},
                     at=row.created_at)
    return row, plain


def revoke_api_key(uow: UnitOfWork, tenant_id: str, api_key_id: str, now: datetime | None = None) -> bool:
    """Mark the key revoked (idempotent). False when the tenant has no such key. Does not commit."""
    row = uow.api_keys.get(tenant_id, api_key_id)
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        uow.audit.record(tenant_id, "api_key", api_key_id, "api_key.revoked", {"prefix": row.prefix},
                         at=row.revoked_at)
    return True


def create_tenant(
    uow: UnitOfWork,
    name: str,
    cop_code: str,
    cop_name: str,
    dxp_id: str,
    *,
    tenant_id: str | None = None,
    key_label: str = "default",
    now: datetime | None = None,
) -> tuple[Tenant, str]:
    """Add a tenant and its first API key; returns (tenant, plain key). Does not commit."""
    _check_length("name", name, 200)
    _check_length("cop_code", cop_code, 18)
    _check_length("cop_name", cop_name, 100)
    _check_length("dxp_id", dxp_id, 30)
    now = now or utcnow()
    tenant = Tenant(
        id=tenant_id or _new_id(),
        name=name,
        cop_code=cop_code,
        cop_name=cop_name,
        dxp_id=dxp_id,
        created_at=now,
    )
    uow.tenants.add(tenant)
    uow.audit.record(tenant.id, "tenant", tenant.id, "tenant.created",
                     {"name": name, "cop_code": cop_code, "cop_name": cop_name, "dxp_id": dxp_id}, at=now)
    _, plain = issue_api_key(uow, tenant.id, key_label, now=now)
    return tenant, plain


# The tenant's transfer fields and registered enterprise codes in ONE statement (intake plans every order
# with them): one row per code, or one row with code NULL when it has none. Built once (bound parameter).
_SENDER_AND_CODES = (select(Tenant.cop_code, Tenant.cop_name, Tenant.dxp_id, TenantEnterprise.code)
                     .outerjoin(TenantEnterprise, TenantEnterprise.tenant_id == Tenant.id)
                     .where(Tenant.id == bindparam("tenant_id")))


def sender_and_codes(uow: UnitOfWork, tenant_id: str) -> tuple[tuple[str, str, str], set[str]] | None:
    """((cop_code, cop_name, dxp_id), the codes the tenant may name in an order: its own cop_code and every
    registered one), read in the caller's transaction; None when there is no such tenant. Read afresh each
    time: nothing is cached, so a code removed by the operator is refused on the very next order."""
    rows = uow.session.connection().execute(_SENDER_AND_CODES, {"tenant_id": tenant_id}).all()   # Core rows
    if not rows:
        return None
    cop_code, cop_name, dxp_id, _ = rows[0]
    return (cop_code, cop_name, dxp_id), {cop_code, *(code for *_, code in rows if code is not None)}


# Authentication's one statement (built once): the live keys under a prefix, with their tenant's disabled mark.
_KEYS_BY_PREFIX = (select(ApiKey.key_hash, Tenant.id, Tenant.disabled_at).join(Tenant, Tenant.id == ApiKey.tenant_id)
                   .where(ApiKey.prefix == bindparam("prefix"), ApiKey.revoked_at.is_(None)))


def tenant_id_for_key(session: Session, plain_key: str) -> str | None:
    """The id of the tenant owning ``plain_key``; None for an unknown, wrong or revoked key, or a disabled
    tenant. Lookup by the indexed 8-character prefix (one statement, plain rows), then a constant-time
    comparison of the key's sha256 against every candidate (no early exit). Read in the caller's
    transaction every time, never cached: a revoked key or a disabled tenant is refused on the next
    request. The one rule of authentication (``uow.api_keys.find_tenant`` calls it too)."""
    if not isinstance(plain_key, str) or len(plain_key) < API_KEY_PREFIX_LENGTH:
        return None
    wanted = hash_api_key(plain_key).encode("ascii")
    found: tuple[str, object] | None = None
    for key_hash, tenant_id, disabled_at in session.connection().execute(
            _KEYS_BY_PREFIX, {"prefix": key_prefix(plain_key)}):
        if hmac.compare_digest(key_hash.encode("ascii"), wanted):
            found = (tenant_id, disabled_at)
    return found[0] if found is not None and found[1] is None else None
