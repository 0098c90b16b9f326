"""``gateway tenant create|list|show|disable``, ``gateway apikey create|list|revoke|rotate`` and
``gateway enterprise add|list|remove`` (the enterprise codes a tenant may file under besides its own).

Database access is the operator's: these commands act on any tenant. The logic is in
gateway/service/tenants.py; these commands only translate arguments and print JSON. A tenant or key
that does not exist, or a refused code, is bad input (exit 2)."""
from __future__ import annotations

import json
from collections.abc import Callable

import click

from .common import BAD_INPUT, FAILED, OK, fail, settings


def _gateway():
    from gateway.bootstrap import bootstrap

    return bootstrap(settings())


def _print(value) -> int:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))
    return OK


def _run(action: Callable[[], int]) -> int:
    from gateway.service.tenants import KeyNotFound, TenantInvalid, TenantNotFound

    try:
        return action()
    except (TenantNotFound, KeyNotFound, TenantInvalid) as exc:
        return fail(BAD_INPUT, str(exc))


def _read(service: Callable, *args) -> int:
    """Print as JSON what ``service(uow_factory, *args)`` returns (a missing tenant or key: exit 2)."""
    return _run(lambda: _print(service(_gateway().uow_factory, *args)))


def _change(service: Callable, *args) -> int:
    """Print as JSON what ``service(uow_factory, clock, *args)`` returns (a missing tenant or key: exit 2)."""
    gw = _gateway()
    return _run(lambda: _print(service(gw.uow_factory, gw.clock, *args)))


# ---- gateway tenant ---------------------------------------------------------------------------------
@click.group("tenant")
def tenant() -> None:
    """Manage tenants."""


@tenant.command("create")
@click.argument("name")
@click.option("--cop-code", required=True, help="transmitting enterprise code")
@click.option("--cop-name", required=True, help="transmitting enterprise name")
@click.option("--dxp-id", required=True, help="its DXP id")
@click.option("--enterprise", "enterprises", multiple=True, metavar="CODE",
              help="an enterprise code the tenant may file under besides its own (repeat for more)")
def tenant_create(name, cop_code, cop_name, dxp_id, enterprises) -> int:
    """Create a tenant and print its API key (shown once)."""
    from gateway.service.tenants import TenantInvalid, create

    gw = _gateway()
    try:       # checked first, stored in one transaction: a refused code stores nothing
        view = create(gw.uow_factory, gw.clock, name, cop_code, cop_name, dxp_id, list(enterprises))
    except TenantInvalid as exc:
        return fail(BAD_INPUT, f"tenant create: {exc}")
    click.echo(json.dumps({"tenant_id": view["id"], "api_key": view["api_key"]}, ensure_ascii=False))
    return OK


@tenant.command("list")
def tenant_list() -> int:
    """Every tenant (JSON)."""
    from gateway.service.tenants import list_tenants

    return _print(list_tenants(_gateway().uow_factory))


@tenant.command("show")
@click.argument("tenant_id", metavar="TENANT")
def tenant_show(tenant_id) -> int:
    """One tenant with its API keys (prefixes) and enterprise codes."""
    from gateway.service.tenants import show

    return _read(show, tenant_id)


@tenant.command("disable")
@click.argument("tenant_id", metavar="TENANT")
def tenant_disable(tenant_id) -> int:
    """Stop every API key of the tenant at once."""
    from gateway.service.tenants import disable

    return _change(disable, tenant_id)


# ---- gateway apikey ---------------------------------------------------------------------------------
@click.group("apikey")
def apikey() -> None:
    """Tenant API keys: create, list, revoke, rotate."""


@apikey.command("create")
@click.argument("tenant_id", metavar="TENANT")
@click.option("--label", default="")
def apikey_create(tenant_id, label) -> int:
    """A new API key (printed once)."""
    from gateway.service.tenants import create_key

    return _change(create_key, tenant_id, label)


@apikey.command("list")
@click.argument("tenant_id", metavar="TENANT")
def apikey_list(tenant_id) -> int:
    """The tenant's keys (prefix, label, revoked)."""
    from gateway.service.tenants import list_keys

    return _read(list_keys, tenant_id)


@apikey.command("revoke")
@click.argument("tenant_id", metavar="TENANT")
@click.argument("key_id")
def apikey_revoke(tenant_id, key_id) -> int:
    """Revoke one key: it fails from the next request on."""
    from gateway.service.tenants import revoke_key

    return _change(revoke_key, tenant_id, key_id)


@apikey.command("rotate")
@click.argument("tenant_id", metavar="TENANT")
@click.argument("key_id")
def apikey_rotate(tenant_id, key_id) -> int:
    """A new key (printed once) and the old one revoked."""
    from gateway.service.tenants import rotate_key

    return _change(rotate_key, tenant_id, key_id)


# ---- gateway enterprise -----------------------------------------------------------------------------
@click.group("enterprise")
def enterprise() -> None:
    """The enterprise codes a tenant may file under (besides its own)."""


@enterprise.command("add")
@click.argument("tenant_id", metavar="TENANT")
@click.argument("codes", nargs=-1, required=True)
@click.option("--name", default="")
def enterprise_add(tenant_id, codes, name) -> int:
    """Register codes (customs, CIQ or credit codes) for a tenant."""
    from gateway.service.tenants import add_enterprises

    gw = _gateway()
    entries = [{"code": c, "name": name} for c in codes]
    return _run(lambda: _print({"added": add_enterprises(gw.uow_factory, gw.clock, tenant_id, entries)}))


@enterprise.command("list")
@click.argument("tenant_id", metavar="TENANT")
def enterprise_list(tenant_id) -> int:
    """The tenant's own code and its registered codes."""
    from gateway.service.tenants import list_enterprises

    return _read(list_enterprises, tenant_id)


@enterprise.command("remove")
@click.argument("tenant_id", metavar="TENANT")
@click.argument("code")
def enterprise_remove(tenant_id, code) -> int:
    """Unregister one code."""
    from gateway.service.tenants import remove_enterprise

    def action() -> int:
        if not remove_enterprise(_gateway().uow_factory, tenant_id, code):
            return fail(FAILED, f"{code} is not registered for tenant {tenant_id}")
        return OK

    return _run(action)


COMMANDS = (tenant, apikey, enterprise)
