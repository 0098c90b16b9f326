"""``gateway file KIND INPUT --out FILE``: build and sign a filing of another party (docs/site-filings.md)
from its JSON document, as ``gateway declare`` does for an order, and write the signed message.

    gateway file logistics-status status.json --out CEB513.xml    the carrier's waybill status (CEB513)
    gateway file entry-list entry.json --out CEB711.xml           the site's entry list (CEB711)
    gateway file return-tally tally.json --out CEB215.xml         the site's return tally (CEB215)
    gateway file summary summary.json --out CEB701.xml            a summary application listing invtNos (CEB701)

The transmitting enterprise (BaseTransfer) is --cop-code/--cop-name, by default the party that files: the
carrier (CEB513), the site operator (CEB711, CEB215) or the declarant (CEB701). With --tenant T it is the
tenant's transmitting enterprise, the message is signed with the tenant's key, and every enterprise the
document names must be registered for the tenant. With --tenant T --submit (no --out) the document is
stored with its filings and queued in the outbox on the tenant's channel, as an order is; `gateway dispatch`
sends it.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import click

from gateway import signing
from gateway.adapters.fileio import write_atomically
from gateway.audit.bounded import InputRefused, read_file
from gateway.domain.common.dates import CHINA_TZ
from gateway.signing.keystore import KeystoreError

from .common import BAD_INPUT, OK, fail, problem_lines, settings, signing_options

KIND_NAMES = ("logistics-status", "entry-list", "return-tally", "summary")


@click.command("file")
@click.argument("kind", type=click.Choice(KIND_NAMES))
@click.argument("document")
@click.option("--out", help="file the signed message is written to (not with --submit)")
@signing_options('the filing party')
@click.option("--tenant", help="sign for this tenant: its transmitting enterprise and key, its registered "
                               "enterprises only (the database of GATEWAY_DATABASE_URL)")
@click.option("--submit", is_flag=True, help="with --tenant: store the document and queue its filings in the "
                                              "outbox on the tenant's channel instead of writing a file")
def file_command(kind, document, out, instance, key, cert, signature, cop_code, cop_name, dxp_id, tenant,
                 submit) -> int:
    """Build and sign a waybill status, entry list, return tally or summary application from JSON."""
    from gateway.bootstrap import make_declarer, signing_key
    from gateway.declarations.common import Transfer
    from gateway.domain.common.schema import order_object
    from gateway.domain.problems import OrderInvalid
    from gateway.ports import UuidGenerator
    from gateway.service.declare import FilingInvalid
    from gateway.service.site_filings import KINDS, TenantNotFound, prepare, prepare_for_tenant

    try:
        text = read_file(document, 8 * 1024 * 1024)
    except (OSError, InputRefused) as exc:
        return fail(BAD_INPUT, f"file: cannot read {document}: {getattr(exc, 'strerror', None) or exc}")
    if submit and (not tenant or out):
        return fail(BAD_INPUT, "file: --submit stores for a tenant: --tenant T, and no --out")
    if not submit and not out:
        return fail(BAD_INPUT, "file: --out FILE (or --tenant T --submit to store and send)")
    if bool(key) != bool(cert):
        return fail(BAD_INPUT, "file: --key and --cert go together")
    if tenant and (key or cop_code or cop_name or dxp_id):
        return fail(BAD_INPUT, "file: --tenant signs with the tenant's key and names its enterprise: "
                               "no --key/--cop-code/--cop-name/--dxp-id with it")
    config = settings(instance_dir=Path(instance).resolve() if instance else None)
    if signature:
        config = replace(config, signature=signature)
    try:
        data = order_object(text)
    except OrderInvalid as exc:
        return fail(BAD_INPUT, f"file: {document} is not a JSON object:", problem_lines(exc.problems))
    now = datetime.now(CHINA_TZ)
    try:
        if submit:
            from gateway.bootstrap import bootstrap
            from gateway.service.orders import OrderConflict

            try:
                filed = bootstrap(config).file_site(tenant, kind, text)
            except OrderConflict as exc:
                return fail(BAD_INPUT, f"file: {exc}")
            click.echo(f"{filed.kind} {filed.number}  id {filed.order_id}  "
                       f"{'stored, queued' if filed.created else 'already stored'}: "
                       f"{len(filed.filings)} filing(s) {filed.filings[0]['message_type']}")
            return OK
        if tenant:
            from gateway.bootstrap import bootstrap

            gw = bootstrap(config)
            signed = prepare_for_tenant(gw.uow_factory, gw.declarer, gw.key_for or gw.key, tenant, kind, data,
                                        app_time=now)
        else:
            filer = data.get(KINDS[kind].filer)
            filer = filer if isinstance(filer, dict) else {}
            sender_code, sender_name = cop_code or filer.get("code"), cop_name or filer.get("name")
            material = signing.load_key_material(Path(key), Path(cert)) if key else signing_key(config)
            transfer = Transfer(cop_code=str(sender_code or "-"), cop_name=str(sender_name or "-"),
                                dxp_id=dxp_id or config.dxp_id)
            signed = prepare(kind, data, declarer=make_declarer(config, UuidGenerator()), key=material,
                             transfer=transfer, app_time=now)
    except TenantNotFound as exc:
        return fail(BAD_INPUT, f"file: {exc} not found")
    except OrderInvalid as exc:
        return fail(BAD_INPUT, f"file: {document} is refused ({len(exc.problems)} problems):",
                    problem_lines(exc.problems))
    except FilingInvalid as exc:
        return fail(BAD_INPUT, "file: the message could not be built:", problem_lines(exc.problems))
    except (signing.SigningError, KeystoreError) as exc:       # an unreadable key file, an expired tenant key
        return fail(BAD_INPUT, f"file: signing key: {exc}")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, signed.signed_bytes)
    click.echo(f"{path}  {signed.message_type}  guid {signed.guid}  sha256 {signed.sha256[:16]}…")
    return OK


COMMANDS = (file_command,)
