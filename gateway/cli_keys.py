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


def register(subparsers) -> None:
    k = subparsers.add_parser("keys", help="tenant signing keys: import, rotate, list (encrypted key store)")
    ksub = k.add_subparsers(dest="keys_command", required=True)

    m = ksub.add_parser("new-master-key", help="print a new random value for GATEWAY_KEYSTORE_KEY")
    m.set_defaults(func=cmd_new_master_key)

    for name, help_text in (("import", "import the first key of a tenant's channel"),
                            ("rotate", "add the successor key, active from a time; the old one is kept")):
        i = ksub.add_parser(name, help=help_text)
        i.add_argument("tenant", help="tenant id")
        i.add_argument("--pkcs12", help="PKCS#12 file (.p12/.pfx) with key and certificate (RSA)")
        i.add_argument("--key", help="PEM private key (RSA or SM2; PKCS#8, possibly encrypted)")
        i.add_argument("--cert", help="PEM (or DER) certificate of --key")
        i.add_argument("--password-env", help="name of the environment variable holding the file's password")
        i.add_argument("--channel", default=os.environ.get("GATEWAY_SIGNING_CHANNEL", "ceb"))
        i.add_argument("--label", default="")
        i.add_argument("--active-from", help="ISO time with zone (default: now)")
        i.set_defaults(func=cmd_import, rotate=(name == "rotate"))

    ls = ksub.add_parser("list", help="keys with validity, state and expiry warnings")
    ls.add_argument("tenant", nargs="?")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)


def cmd_new_master_key(args) -> int:
    from gateway.signing.keystore import new_master_key

    print(new_master_key())
    return 0


def _material(args):
    from gateway.signing.keystore import load_material

    password = None
    if args.password_env:
        if args.password_env not in os.environ:
            raise ValueError(f"environment variable {args.password_env} is not set")
        password = os.environ[args.password_env].encode("utf-8")
    if args.pkcs12:
        if args.key or args.cert:
            raise ValueError("give either --pkcs12 or --key and --cert")
        return load_material(pkcs12_data=Path(args.pkcs12).read_bytes(), password=password)
    if not (args.key and args.cert):
        raise ValueError("give --pkcs12 FILE, or --key KEY.pem and --cert CERT.pem")
    return load_material(key_pem=Path(args.key).read_bytes(), cert_pem=Path(args.cert).read_bytes(),
                         password=password)


def cmd_import(args) -> int:
    from gateway.bootstrap import bootstrap
    from gateway.config import ConfigError
    from gateway.signing import SigningError

    try:
        active_from = datetime.fromisoformat(args.active_from) if args.active_from else None
        if active_from is not None and active_from.tzinfo is None:
            raise ValueError("--active-from needs a time zone, e.g. 2026-12-01T00:00:00+08:00")
        material = _material(args)
        gw = bootstrap()
        store = gw.keystore
        if args.rotate:
            info = store.rotate(args.tenant, material, channel=args.channel, active_from=active_from, label=args.label)
        else:
            info = store.import_key(args.tenant, material, channel=args.channel, active_from=active_from,
                                    label=args.label)
    except (OSError, ValueError, SigningError, ConfigError) as exc:
        print(f"gateway keys {'rotate' if args.rotate else 'import'}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(info.as_dict(), ensure_ascii=False))
    for warning in info.warnings:
        print(f"WARNING {info.key_name}: {warning}", file=sys.stderr)
    return 0


def cmd_list(args) -> int:
    from gateway.bootstrap import bootstrap
    from gateway.config import ConfigError

    try:
        infos = bootstrap().keystore.list(args.tenant)
    except ConfigError as exc:
        print(f"gateway keys list: {exc}", file=sys.stderr)
        return 2
    if args.json:
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
    return 1 if attention else 0
