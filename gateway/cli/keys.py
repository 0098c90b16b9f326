"""``gateway keys``: the tenant key store from the command line.

    gateway keys new-master-key                       print a fresh GATEWAY_KEYSTORE_KEY value
    gateway keys import TENANT --pkcs12 FILE [--password-env VAR] [--channel ceb] [--label ...]
    gateway keys import TENANT --key KEY.pem --cert CERT.pem [--password-env VAR]
    gateway keys rotate TENANT (--pkcs12 FILE | --key K --cert C) [--active-from 2026-12-01T00:00:00+08:00]
    gateway keys list [TENANT] [--json]

Passwords are read from an environment variable (``--password-env``), never from the command line.
Exit status: 0 ok, 1 a listed key needs attention (expired, or expiring within 30 days), 2 refused.
"""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path

import click

from gateway.config import ConfigError
from gateway.signing import SigningError

from .common import BAD_INPUT, FAILED, OK, fail, settings


@click.group("keys")
def keys() -> None:
    """Tenant signing keys: import, rotate, list (encrypted key store)."""


@keys.command("new-master-key")
def new_master_key() -> int:
    """Print a new random value for GATEWAY_KEYSTORE_KEY."""
    from gateway.signing.keystore import new_master_key as new_key

    print(new_key())
    return OK


def _material(pkcs12, key, cert, password_env):
    from gateway.signing.keystore import load_material

    password = None
    if password_env:
        if password_env not in os.environ:
            raise ValueError(f"environment variable {password_env} is not set")
        password = os.environ[password_env].encode("utf-8")
    if pkcs12:
        if key or cert:
            raise ValueError("give either --pkcs12 or --key and --cert")
        return load_material(pkcs12_data=Path(pkcs12).read_bytes(), password=password)
    if not (key and cert):
        raise ValueError("give --pkcs12 FILE, or --key KEY.pem and --cert CERT.pem")
    return load_material(key_pem=Path(key).read_bytes(), cert_pem=Path(cert).read_bytes(), password=password)


def _key_options(command):
    for decorator in reversed((
            click.argument("tenant"),
            click.option("--pkcs12", help="PKCS#12 file (.p12/.pfx) with key and certificate (RSA)"),
            click.option("--key", help="PEM private key (RSA or SM2; PKCS#8, possibly encrypted)"),
            click.option("--cert", help="PEM (or DER) certificate of --key"),
            click.option("--password-env", help="name of the environment variable holding the file's password"),
            click.option("--channel", help="key store channel (default GATEWAY_SIGNING_CHANNEL, ceb)"),
            click.option("--label", default=""),
            click.option("--active-from", help="ISO time with zone (default: now)"))):
        command = decorator(command)
    return command


@keys.command("import")
@_key_options
def import_key(**options) -> int:
    """Import the first key of a tenant's channel."""
    return _store_key(False, **options)


@keys.command("rotate")
@_key_options
def rotate_key(**options) -> int:
    """Add the successor key, active from a time; the old one is kept."""
    return _store_key(True, **options)


def _store_key(rotate, tenant, pkcs12, key, cert, password_env, channel, label, active_from) -> int:
    from gateway.bootstrap import bootstrap

    try:
        since = datetime.fromisoformat(active_from) if active_from else None
        if since is not None and since.tzinfo is None:
            raise ValueError("--active-from needs a time zone, e.g. 2026-12-01T00:00:00+08:00")
        material = _material(pkcs12, key, cert, password_env)
        gw = bootstrap(settings())
        channel = channel or gw.settings.signing_channel
        store = gw.keystore
        if rotate:
            info = store.rotate(tenant, material, channel=channel, active_from=since, label=label)
        else:
            info = store.import_key(tenant, material, channel=channel, active_from=since, label=label)
    except (OSError, ValueError, SigningError, ConfigError) as exc:
        return fail(BAD_INPUT, f"keys {'rotate' if rotate else 'import'}: {exc}")
    print(json.dumps(info.as_dict(), ensure_ascii=False))
    for warning in info.warnings:
        print(f"WARNING {info.key_name}: {warning}", file=sys.stderr)
    return OK


@keys.command("list")
@click.argument("tenant", required=False)
@click.option("--json", "as_json", is_flag=True)
def list_keys(tenant, as_json) -> int:
    """Keys with validity, state and expiry warnings."""
    from gateway.bootstrap import bootstrap

    try:
        infos = bootstrap(settings()).keystore.list(tenant)
    except ConfigError as exc:
        return fail(BAD_INPUT, f"keys list: {exc}")
    if as_json:
        print(json.dumps([i.as_dict() for i in infos], ensure_ascii=False, indent=2))
    else:
        print(f"{'tenant':<36} {'channel':<8} {'type':<4} {'key name':<20} {'state':<12} {'active from':<25} "
              f"{'valid until':<25} days")
        for i in infos:
            print(f"{i.tenant_id:<36} {i.channel:<8} {i.key_type:<4} {i.key_name[:20]:<20} {i.state:<12} "
                  f"{i.active_from.isoformat():<25} {i.not_after.isoformat():<25} {i.days_left}")
    attention = [(i, w) for i in infos for w in i.warnings]
    for info, warning in attention:
        print(f"WARNING {info.tenant_id} {info.channel} {info.key_name}: {warning}", file=sys.stderr)
    return FAILED if attention else OK


COMMANDS = (keys,)
