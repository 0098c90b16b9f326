"""The ``gateway`` command line (Click): one module per command group.

    gateway                      this help
    gateway --version
    gateway demo | declare | verify                     orders.py, demo.py
    gateway serve                                       serve.py
    gateway tenant create|list|show|disable             tenants.py
    gateway apikey ... | enterprise ...                 tenants.py
    gateway audit ... | replay                          audit.py
    gateway dispatch run|status | receipts quarantine   dispatch.py
    gateway keys ...                                    keys.py
    gateway reference ... | tax quote | fx record       reference.py
    gateway sandbox serve                               sandbox.py
    gateway config docs|check                           settings.py
    gateway submit | template                           bulk.py
    gateway db upgrade|current                          db.py

Exit codes: 0 ok, 1 failure, 2 bad input or usage; errors are one ``error: ...`` line on stderr
(gateway/cli/common.py, docs/configuration.md).
"""
from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

import click

from gateway.config import ConfigError

from . import audit, bulk, corrections, db, demo, dispatch, keys, orders, reference, sandbox, serve, settings, tenants
from .common import BAD_INPUT, FAILED, fail


def _version() -> str:
    try:
        return version("gateway")
    except PackageNotFoundError:     # run from a checkout without installing
        return "0+unknown"


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), prog_name="gateway")
@click.pass_context
def cli(ctx: click.Context) -> int:
    """Single-window customs gateway."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
    return 0


for module in (orders, bulk, corrections, demo, serve, db, tenants, audit, dispatch, keys, reference, sandbox, settings):
    for command in module.COMMANDS:
        cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code (the console script exits with it)."""
    try:
        result = cli.main(args=argv, prog_name="gateway", standalone_mode=False)
    except ConfigError as exc:
        return fail(BAD_INPUT, str(exc))
    except click.ClickException as exc:
        return fail(exc.exit_code, exc.format_message())
    except click.Abort:
        return fail(FAILED, "aborted")
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
