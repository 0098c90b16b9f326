"""The ``gateway`` command line (Click): one module per command group.

    gateway                      this help
    gateway --version
    gateway demo | declare | verify                     orders.py, demo.py
    gateway file logistics-status|entry-list|return-tally|summary   site_filings.py
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

import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

import click

from gateway.config import ConfigError

from .common import BAD_INPUT, FAILED, fail

# command -> the module of this package that defines it (in its COMMANDS). A command's module is
# imported when the command runs, not before: `gateway audit verify` loads no database layer, and
# every command starts without importing the others' dependencies.
COMMAND_MODULES = {
    "declare": "orders", "verify": "orders", "submit": "bulk", "template": "bulk", "order": "corrections",
    "demo": "demo", "serve": "serve", "db": "db", "tenant": "tenants", "apikey": "tenants",
    "enterprise": "tenants", "audit": "audit", "replay": "audit", "dispatch": "dispatch", "receipts": "dispatch",
    "keys": "keys", "reference": "reference", "tax": "reference", "fx": "reference", "sandbox": "sandbox",
    "config": "settings", "file": "site_filings",
}


class LazyGroup(click.Group):
    """Click's lazily loading group (click.palletsprojects.com, "Lazily Loading Subcommands")."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"{__name__}.{module_name}")
        return next(c for c in module.COMMANDS if c.name == cmd_name)


def _version() -> str:
    try:
        return version("gateway")
    except PackageNotFoundError:     # run from a checkout without installing
        return "0+unknown"


@click.group(cls=LazyGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), prog_name="gateway")
@click.pass_context
def cli(ctx: click.Context) -> int:
    """Single-window customs gateway."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
    return 0


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
