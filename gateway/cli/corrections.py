"""Corrections from the command line.

    gateway order resubmit ORDER_ID FILE --tenant T   a rejected order, corrected (FILE: the order JSON)
                                                      and declared again: its refused documents with
                                                      appType 2 (docs/corrections.md)
    gateway order release ORDER_ID --tenant T --reason TEXT
                                                      a held order (a customs rule it breaks is known at
                                                      intake, docs/tax-fx.md "Held orders") sent anyway:
                                                      its filings built, signed and queued

The filings are stored signed with their outbox rows; the dispatcher (``gateway dispatch``) sends them.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from gateway.bootstrap import bootstrap
from gateway.domain.problems import OrderInvalid
from gateway.service.corrections import CorrectionInvalid, CorrectionRefused, CorrectionService
from gateway.service.declare import FilingInvalid
from gateway.service.holds import NotHeld
from gateway.service.orders import NotFound

from .common import BAD_INPUT, FAILED, OK, fail, problem_lines, settings


@click.group("order")
def order() -> None:
    """Correct an order that was filed, or release a held one."""


@order.command("resubmit")
@click.argument("order_id")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tenant", required=True, help="the tenant id the order belongs to")
def resubmit(order_id: str, file: Path, tenant: str) -> int:
    """Declare a rejected order again, corrected as FILE says."""
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return fail(BAD_INPUT, f"{file}: cannot read it ({exc})")
    service = CorrectionService.for_gateway(bootstrap(settings()))
    try:
        done = service.resubmit_order(tenant, order_id, text)
    except NotFound as exc:
        return fail(BAD_INPUT, f"{exc} not found for tenant {tenant}")
    except (OrderInvalid, CorrectionInvalid, FilingInvalid) as exc:
        return fail(BAD_INPUT, f"{file}: the corrected order is invalid", problem_lines(exc.problems))
    except CorrectionRefused as exc:
        r = exc.refusal
        return fail(FAILED, f"resubmit refused: {r.message} (rule {r.rule}"
                            + (f", customs code {r.customs_code})" if r.customs_code else ")"))
    click.echo(json.dumps({"order_id": done.order_id, "order_version": done.order_version,
                           "filings": done.filing_ids}, ensure_ascii=False, sort_keys=True))
    return OK


@order.command("release")
@click.argument("order_id")
@click.option("--tenant", required=True, help="the tenant id the order belongs to")
@click.option("--reason", required=True, help="why the held order is sent anyway (kept in the audit chain)")
def release(order_id: str, tenant: str, reason: str) -> int:
    """Send a held order anyway: build, sign and queue its filings."""
    gw = bootstrap(settings())
    try:
        done = gw.release_held(tenant, order_id, reason)
    except NotFound as exc:
        return fail(BAD_INPUT, f"{exc} not found for tenant {tenant}")
    except NotHeld as exc:
        return fail(FAILED, f"release refused: {exc}")
    except (OrderInvalid, FilingInvalid) as exc:
        return fail(BAD_INPUT, "release refused:", problem_lines(exc.problems))
    click.echo(json.dumps({"order_id": done.order_id, "filings": done.filing_ids, "status": "in_progress"},
                          ensure_ascii=False, sort_keys=True))
    return OK


COMMANDS = (order,)
