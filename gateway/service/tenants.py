"""Operator actions on tenants (CLI ``gateway tenant|apikey|enterprise`` and ``/v1/operator``):
the enterprise codes a tenant may file under; listing, showing and disabling tenants; API keys.

Every change is audited in the transaction that makes it."""
from __future__ import annotations

import re

from sqlalchemy import delete, select

from gateway.domain.enterprises import NONE, named_enterprises
from gateway.domain.parse import parse_order
from gateway.domain.problems import OrderInvalid
from gateway.store.models import ApiKey, Tenant, TenantEnterprise
from gateway.store.tenants import create_tenant, issue_api_key, revoke_api_key

from .listing import DEFAULT_LIMIT, Page, keyset_page

CODE = re.compile(r"^[0-9A-Z]{9,18}$")      # customs code (10), CIQ code (10), credit code (18)


class TenantNotFound(LookupError):
    pass


class TenantInvalid(ValueError):
    """Refused input; ``path`` names the field (a JSON path of the request), ``rule`` the rule."""

    def __init__(self, message: str, path: str = "$", rule: str = "tenant"):
        super().__init__(message)
        self.path, self.rule = path, rule


def _tenant(uow, tenant_id: str):
    tenant = uow.tenants.get(tenant_id)
    if tenant is None:
        raise TenantNotFound(f"tenant {tenant_id}")
    return tenant


# ---- enterprise codes ---------------------------------------------------------------------------
def registered_codes(uow, tenant) -> set[str]:
    """The codes ``tenant`` may name in an order: its own transmitting-enterprise code (cop_code)
    and every code registered for it."""
    rows = uow.session.scalars(select(TenantEnterprise.code).where(TenantEnterprise.tenant_id == tenant.id))
    return {tenant.cop_code, *rows}


def codes_named(bodies, on) -> list[str]:
    """Every enterprise code the given orders (JSON text or dicts) name; orders that do not parse
    are skipped (they are refused with their problems when submitted)."""
    codes: set[str] = set()
    for body in bodies:
        try:
            codes |= {code for _, code in named_enterprises(parse_order(body, on=on))}
        except (OrderInvalid, ValueError):
            continue
    return sorted(codes)


def _enterprise_view(row: TenantEnterprise) -> dict:
    return {"code": row.code, "name": row.name, "created_at": row.created_at.isoformat()}


def list_enterprises(uow_factory, tenant_id: str) -> dict:
    with uow_factory() as uow:
        tenant = _tenant(uow, tenant_id)
        rows = uow.session.scalars(select(TenantEnterprise).where(TenantEnterprise.tenant_id == tenant_id)
                                   .order_by(TenantEnterprise.code)).all()
        return {"tenant_id": tenant_id, "own": tenant.cop_code, "enterprises": [_enterprise_view(r) for r in rows]}


def enterprise_page(uow_factory, tenant_id: str, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> Page:
    """One page of the tenant's registered codes, by code (the cursor scheme of service.listing)."""
    with uow_factory() as uow:
        _tenant(uow, tenant_id)
        return keyset_page(uow.session, select(TenantEnterprise).where(TenantEnterprise.tenant_id == tenant_id),
                           (TenantEnterprise.code,), kind="operator-enterprises", filters={"tenant": tenant_id},
                           cursor=cursor, limit=limit, view=lambda rows: [_enterprise_view(r) for r in rows])


def own_code(uow_factory, tenant_id: str) -> str:
    """The tenant's own transmitting-enterprise code (cop_code)."""
    with uow_factory() as uow:
        return _tenant(uow, tenant_id).cop_code


def add_enterprises(uow_factory, clock, tenant_id: str, entries) -> list[dict]:
    """Register enterprise codes ({"code", "name"} each) for the tenant; codes already registered
    are kept as they are. Returns the rows added."""
    wanted = _checked_codes(entries)
    with uow_factory() as uow:
        _tenant(uow, tenant_id)
        added = _register(uow, tenant_id, wanted, clock.now())
        uow.commit()
        return [_enterprise_view(r) for r in added]


def _checked_codes(entries) -> dict[str, str]:
    """code -> name of well-formed entries; TenantInvalid naming the first bad one."""
    if not isinstance(entries, list) or not entries:
        raise TenantInvalid('give a non-empty list of {"code": "...", "name": "..."}', "$.enterprises",
                            "schema:minItems")
    wanted: dict[str, str] = {}
    for i, e in enumerate(entries):
        code = e.get("code") if isinstance(e, dict) else None
        if not isinstance(code, str) or not CODE.match(code) or code in NONE:
            raise TenantInvalid(f"enterprises[{i}].code must be 9 to 18 capital letters or digits "
                                f"(customs, CIQ or credit code), not {code!r}", f"$.enterprises[{i}]",
                                "enterprise-code")
        name = e.get("name") or ""
        if not isinstance(name, str) or len(name) > 200:
            raise TenantInvalid(f"enterprises[{i}].name is text of at most 200 characters",
                                f"$.enterprises[{i}].name", "schema:maxLength")
        wanted.setdefault(code, name)
    return wanted


def _register(uow, tenant_id: str, wanted: dict[str, str], now) -> list[TenantEnterprise]:
    have = set(uow.session.scalars(select(TenantEnterprise.code).where(
        TenantEnterprise.tenant_id == tenant_id, TenantEnterprise.code.in_(list(wanted)))))
    added = [TenantEnterprise(tenant_id=tenant_id, code=code, name=name, created_at=now)
             for code, name in wanted.items() if code not in have]
    if added:
        uow.session.add_all(added)
        uow.audit.record(tenant_id, "tenant", tenant_id, "enterprise.registered", {"codes": [r.code for r in added]})
    return added


def remove_enterprise(uow_factory, tenant_id: str, code: str) -> bool:
    """Unregister a code; False when it was not registered. Orders already filed stay as they are."""
    with uow_factory() as uow:
        _tenant(uow, tenant_id)
        gone = uow.session.execute(delete(TenantEnterprise).where(
            TenantEnterprise.tenant_id == tenant_id, TenantEnterprise.code == code)).rowcount
        if gone:
            uow.audit.record(tenant_id, "tenant", tenant_id, "enterprise.unregistered", {"code": code})
        uow.commit()
        return bool(gone)


# ---- tenants --------------------------------------------------------------------------------------
def _key_view(row) -> dict:
    return {"id": row.id, "prefix": row.prefix, "label": row.label, "created_at": row.created_at.isoformat(),
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}


def _tenant_view(tenant) -> dict:
    return {"id": tenant.id, "name": tenant.name, "cop_code": tenant.cop_code, "cop_name": tenant.cop_name,
            "dxp_id": tenant.dxp_id, "created_at": tenant.created_at.isoformat(),
            "disabled_at": tenant.disabled_at.isoformat() if tenant.disabled_at else None}


def create(uow_factory, clock, name, cop_code, cop_name, dxp_id, enterprises=()) -> dict:
    """A new tenant, its first API key (in the answer, shown this once) and its enterprise codes."""
    for field, value in (("name", name), ("cop_code", cop_code), ("cop_name", cop_name), ("dxp_id", dxp_id)):
        if not isinstance(value, str) or not value.strip():
            raise TenantInvalid(f"{field} is required", f"$.{field}", "schema:required")
    wanted = _checked_codes([{"code": c} for c in enterprises]) if enterprises else {}   # before anything is stored
    with uow_factory() as uow:       # the tenant, its first key and its codes: one transaction
        try:
            tenant, plain = create_tenant(uow, name, cop_code, cop_name, dxp_id, now=clock.now())
        except ValueError as exc:
            raise TenantInvalid(str(exc)) from None
        if wanted:
            uow.session.flush()
            _register(uow, tenant.id, wanted, clock.now())
        uow.commit()
        return {**_tenant_view(tenant), "api_key": plain}


def list_tenants(uow_factory) -> list[dict]:
    with uow_factory() as uow:
        return [_tenant_view(t) for t in uow.session.scalars(select(Tenant).order_by(Tenant.created_at, Tenant.id))]


def tenant_page(uow_factory, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> Page:
    """One page of every tenant, oldest first (the cursor scheme of service.listing)."""
    with uow_factory() as uow:
        return keyset_page(uow.session, select(Tenant), (Tenant.created_at, Tenant.id), kind="operator-tenants",
                           filters={}, cursor=cursor, limit=limit, view=lambda rows: [_tenant_view(t) for t in rows])


def show(uow_factory, tenant_id: str) -> dict:
    """The tenant, its API keys (prefix, never the key) and its enterprise codes."""
    with uow_factory() as uow:
        view = {**_tenant_view(_tenant(uow, tenant_id)),
                "api_keys": [_key_view(k) for k in uow.api_keys.for_tenant(tenant_id)]}
    return {**view, "enterprises": list_enterprises(uow_factory, tenant_id)["enterprises"]}


def disable(uow_factory, clock, tenant_id: str) -> dict:
    """Every API key of the tenant stops working at once (idempotent). Filings already in the
    outbox still go out: they were accepted before."""
    with uow_factory() as uow:
        tenant = _tenant(uow, tenant_id)
        if tenant.disabled_at is None:
            tenant.disabled_at = clock.now()
            uow.audit.record(tenant_id, "tenant", tenant_id, "tenant.disabled", {}, at=tenant.disabled_at)
        uow.commit()
        return _tenant_view(tenant)


# ---- API keys -------------------------------------------------------------------------------------
class KeyNotFound(LookupError):
    pass


def list_keys(uow_factory, tenant_id: str) -> list[dict]:
    with uow_factory() as uow:
        _tenant(uow, tenant_id)
        return [_key_view(k) for k in uow.api_keys.for_tenant(tenant_id)]


def key_page(uow_factory, tenant_id: str, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> Page:
    """One page of the tenant's API keys, oldest first (prefixes, never the keys)."""
    with uow_factory() as uow:
        _tenant(uow, tenant_id)
        return keyset_page(uow.session, select(ApiKey).where(ApiKey.tenant_id == tenant_id),
                           (ApiKey.created_at, ApiKey.id), kind="operator-api-keys", filters={"tenant": tenant_id},
                           cursor=cursor, limit=limit, view=lambda rows: [_key_view(k) for k in rows])


def create_key(uow_factory, clock, tenant_id: str, label: str = "") -> dict:
    """A new API key; the plain key is in the answer, shown this once."""
    if not isinstance(label, str) or len(label) > 100:
        raise TenantInvalid("label is text of at most 100 characters")
    with uow_factory() as uow:
        _tenant(uow, tenant_id)
        row, plain = issue_api_key(uow, tenant_id, label, now=clock.now())
        uow.commit()
        return {**_key_view(row), "api_key": plain}


def revoke_key(uow_factory, clock, tenant_id: str, key_id: str) -> dict:
    """The key fails from the next request on (idempotent)."""
    with uow_factory() as uow:
        if not revoke_api_key(uow, tenant_id, key_id, now=clock.now()):
            raise KeyNotFound(f"API key {key_id} of tenant {tenant_id}")
        uow.commit()
        return _key_view(uow.api_keys.get(tenant_id, key_id))


def rotate_key(uow_factory, clock, tenant_id: str, key_id: str) -> dict:
    """In one transaction: a new key with the old one's label, and the old one revoked."""
    with uow_factory() as uow:
        old = uow.api_keys.get(tenant_id, key_id)
        if old is None:
            raise KeyNotFound(f"API key {key_id} of tenant {tenant_id}")
        if old.revoked_at is not None:
            raise TenantInvalid(f"API key {key_id} is revoked already: create a new one")
        now = clock.now()
        row, plain = issue_api_key(uow, tenant_id, old.label, now=now)
        revoke_api_key(uow, tenant_id, key_id, now=now)
        uow.commit()
        return {**_key_view(row), "api_key": plain, "replaces": key_id}
