"""``gateway declare`` (build and sign an order's filings into a folder) and ``gateway verify``
(check signed messages: schema and signature). ``declare`` signs as ``serve`` does: the signature,
SM2 and key settings of gateway.config, with --signature/--key/--cert/--instance on top."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import click
from lxml import etree

from gateway import schemas, signing
from gateway.audit.bounded import InputRefused, read_file
from gateway.audit.checkpoint import CheckpointInvalid, load_certificate
from gateway.domain.common.dates import CHINA_TZ
from gateway.signing.anchor import verify_anchored
from gateway.signing.verifier import parse_hardened

from .common import BAD_INPUT, FAILED, OK, fail, problem_lines, settings, signing_options


@click.command("declare")
@click.argument("order")
@click.option("--out", required=True, help="folder the signed messages are written to")
@signing_options("the order's declarant")
@click.option("--agencies", is_flag=True,
              help="also write the inspection, tax and FX records (docs/tax-fx.md; annual amount used: 0)")
def declare(order, out, instance, key, cert, signature, cop_code, cop_name, dxp_id, agencies) -> int:
    """Build and sign the filings of one order into a folder."""
    from gateway.bootstrap import make_declarer, signing_key
    from gateway.declarations.common import Transfer
    from gateway.domain.parse import parse_order
    from gateway.domain.problems import OrderInvalid
    from gateway.ports import UuidGenerator
    from gateway.service.declare import FilingInvalid, new_cop_no

    try:
        text = read_file(order, 8 * 1024 * 1024)       # bytes: parse_order refuses what is not UTF-8
    except (OSError, InputRefused) as exc:
        return fail(BAD_INPUT, f"declare: cannot read {order}: {getattr(exc, 'strerror', None) or exc}")
    config = settings(instance_dir=Path(instance).resolve() if instance else None)
    if signature:
        config = replace(config, signature=signature)
    if bool(key) != bool(cert):
        return fail(BAD_INPUT, "declare: --key and --cert go together")
    now = datetime.now(CHINA_TZ)
    try:
        parsed = parse_order(text, on=now)
    except OrderInvalid as exc:
        return fail(BAD_INPUT, f"declare: {order} is not a valid order ({len(exc.problems)} problems):",
                    problem_lines(exc.problems))
    material = signing.load_key_material(Path(key), Path(cert)) if key else signing_key(config)
    ids = UuidGenerator()
    # a general-trade declarant may name only its USCC (no customs code): that code transmits then
    sender = cop_code or parsed.declarant.code or getattr(parsed.declarant, "scc", None)
    if not sender:
        return fail(BAD_INPUT, f"declare: {order} names no declarant code; give --cop-code")
    transfer = Transfer(cop_code=sender, cop_name=cop_name or parsed.declarant.name, dxp_id=dxp_id or config.dxp_id)
    try:
        # customs' filings by default; --agencies adds the inspection, tax and FX records (no database
        # here: the buyer's CBEC annual amount is taken as 0)
        built = make_declarer(config, ids).declare(parsed, transfer=transfer, key=material, app_time=now,
                                                   cop_no=new_cop_no(ids.new_guid()), agencies=agencies)
    except OrderInvalid as exc:
        return fail(BAD_INPUT, f"declare: {order} is refused ({len(exc.problems)} problems):",
                    problem_lines(exc.problems))
    except FilingInvalid as exc:
        return fail(BAD_INPUT, "declare: the filings could not be built:", problem_lines(exc.problems))
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for b in built:
        path = folder / f"{b.message_type}.xml"
        tmp = path.with_suffix(".xml.tmp")
        tmp.write_bytes(b.signed_bytes)
        tmp.replace(path)
        click.echo(f"{path}  guid {b.guid}  sha256 {b.sha256[:16]}…")
    return OK


@click.command("verify")
@click.argument("files", nargs=-1, required=True)
@click.option("--xmlsec1", is_flag=True, help="also verify with the independent xmlsec1")
@click.option("--trust", multiple=True, metavar="CERT.pem", help="the signer must be this certificate (repeatable)")
@click.option("--allow-untrusted", is_flag=True,
              help="without --trust: accept 'signature valid, signer NOT trusted' (exit 0)")
def verify(files, xmlsec1, trust, allow_untrusted) -> int:
    """Check signed messages: schema, signature and signer (--trust)."""
    try:
        trusted = [load_certificate(Path(p).read_bytes()) for p in trust]
    except (OSError, CheckpointInvalid) as exc:
        return fail(BAD_INPUT, f"verify: --trust: {exc}")
    failed = 0
    for name in files:
        try:
            data = read_file(name)          # bounded: gateway.audit.bounded.MAX_XML_FILE_BYTES
            anchored = verify_anchored(data, trusted, allow_untrusted=allow_untrusted)
            verified = anchored.verified
            problems = schemas.validate(parse_hardened(data))
            if problems:
                raise ValueError("schema: " + "; ".join(problems[:5]))
            if xmlsec1:
                ok, reason = signing.xmlsec1_verify(data)
                if not ok:
                    raise ValueError(f"xmlsec1: {reason}")
        except (OSError, etree.XMLSyntaxError, signing.SigningError, ValueError) as exc:
            failed += 1
            click.echo(f"FAIL {name}: {exc}")
            continue
        root = etree.QName(verified.root).localname
        click.echo(f"OK   {name}: {root} valid, {anchored.verdict} "
                   f"({verified.algorithms.signature_method.rsplit('#', 1)[-1]}, "
                   f"certificate serial {verified.key_name})")
    return FAILED if failed else OK


COMMANDS = (declare, verify)
