"""``gateway submit FILE...`` (file orders from JSON, JSON Lines, CSV or XLSX for a tenant, with a
progress bar and a result sheet) and ``gateway template FORMAT`` (a format's XLSX or CSV template).
docs/bulk-files.md. Exit codes: 0 every order accepted, 1 some refused, 2 a file unreadable or bad usage."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.domain.sheets.columns import FORMATS
from gateway.service.bulk import BadFile, submit_file
from gateway.service.bulk_files import HEADERS, write_result, write_template

from .common import BAD_INPUT, FAILED, OK, fail, settings


@click.command("submit")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--tenant", required=True, help="the tenant id the orders are filed for")
@click.option("--result", "result_path", type=click.Path(dir_okay=False),
              help="write the result sheet here (.xlsx or .csv): the input rows with status, order id, problems")
@click.option("--quiet", is_flag=True, help="no progress bar, no per-problem lines")
def submit(files, tenant, result_path, quiet) -> int:
    """File the orders of bulk files (.json, .jsonl, .csv, .xlsx) for a tenant."""
    from gateway.bootstrap import bootstrap
    from gateway.service.orders import NotFound

    if result_path and len(files) != 1:
        return fail(BAD_INPUT, "submit: --result goes with one FILE")
    result_kind = Path(result_path).suffix.lower().lstrip(".") if result_path else None
    if result_kind not in (None, "xlsx", "csv"):
        return fail(BAD_INPUT, "submit: --result is an .xlsx or .csv file")
    gw = bootstrap(settings())
    code = OK
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=quiet, transient=False) as bar:
        for name in files:
            task = bar.add_task(Path(name).name, total=None)

            def advance(done: int, total: int | None, task=task) -> None:
                bar.update(task, completed=done, total=total)

            try:
                with open(name, "rb") as stream:
                    result = submit_file(gw, tenant, Path(name).name, stream, progress=advance)
            except OSError as exc:
                code = max(code, fail(BAD_INPUT, f"submit: cannot read {name}: {exc.strerror}"))
                continue
            except BadFile as exc:
                code = max(code, fail(BAD_INPUT, f"submit: {name}: {exc}", [str(p) for p in exc.problems]))
                continue
            except NotFound as exc:
                return fail(BAD_INPUT, f"submit: {exc} not found")
            counts = result.counts
            bar.console.print(f"{name}: {counts['rows']} rows, {counts['orders']} orders: {counts['accepted']} "
                              f"accepted, {counts['existing']} filed before, {counts['refused']} refused", soft_wrap=True)
            if not quiet:
                for row in result.rows:
                    for p in row.problems:
                        bar.console.print(f"  {p}", markup=False, highlight=False, soft_wrap=True)
            if counts["refused"]:
                code = max(code, FAILED)
            if result_path and result_kind:
                with open(name, "rb") as source, open(result_path, "wb") as out:
                    write_result(result, source, result_kind, out)
                bar.console.print(f"result: {result_path}", soft_wrap=True)
    return code


@click.command("template")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(tuple(FORMATS)))
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False), help="write the XLSX template here")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="write the CSV template here")
@click.option("--headers", type=click.Choice(HEADERS), default="both", show_default=True,
              help="Chinese labels, English keys, or both (every form is read back)")
def template(fmt, xlsx_path, csv_path, headers) -> int:
    """Write the bulk-file template of an order format (cbec-import, cbec-export, general-trade)."""
    if not xlsx_path and not csv_path:
        return fail(BAD_INPUT, "template: give --xlsx PATH and/or --csv PATH")
    for kind, path in (("xlsx", xlsx_path), ("csv", csv_path)):
        if path:
            with open(path, "wb") as out:
                write_template(fmt, kind, out, headers)
            click.echo(f"{path}  {fmt} template ({kind})", file=sys.stdout)
    return OK


COMMANDS = (submit, template)
