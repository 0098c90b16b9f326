"""What every command shares: the error style, the settings, parameter types, exit codes.

Exit codes (docs/configuration.md "Command line"): 0 ok, 1 a failure (a check failed, a replay
differs, an order is refused by a limit), 2 bad input or usage (unknown option, unreadable file,
invalid order, bad setting). Errors are one line on stderr, ``error: ...``, sometimes followed by
indented detail lines (the problems of an order, each named by path and rule).
"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation

import click

from gateway import signing
from gateway.config import Settings

OK, FAILED, BAD_INPUT = 0, 1, 2


def fail(code: int, message: str, details: Iterable[str] = ()) -> int:
    """Print ``error: message`` (and indented details) on stderr; return the exit code."""
    click.echo(f"error: {message}", err=True)
    for line in details:
        click.echo(f"  {line}", err=True)
    return code


def problem_lines(problems) -> list[str]:
    return [f"{p.path}: [{p.rule}] {p.message}" for p in problems]


def print_problems(problems, out=None) -> None:
    for line in problem_lines(problems):
        print(f"  {line}", file=out or sys.stderr)


def signing_options(party: str):
    """The options of a command that signs what it builds: --instance, --key, --cert, --signature,
    --cop-code, --cop-name, --dxp-id (their parameters, in that order). ``party``: who transmits when
    --cop-code / --cop-name are not given."""
    options = (
        click.option("--instance", help="where the development key lives (default GATEWAY_INSTANCE_DIR or ./instance)"),
        click.option("--key", help="PEM private key (default GATEWAY_SIGNING_KEY, else the development key)"),
        click.option("--cert", help="PEM certificate of --key"),
        click.option("--signature", type=click.Choice(signing.NAMES),
                     help="signature algorithm (default GATEWAY_SIGNATURE)"),
        click.option("--cop-code", help=f"transmitting enterprise code (default: {party})"),
        click.option("--cop-name", help=f"transmitting enterprise name (default: {party})"),
        click.option("--dxp-id", help="BaseTransfer/dxpId of the transmitting enterprise (default GATEWAY_DXP_ID)"),
    )

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


def settings(**overrides) -> Settings:
    """The one settings object, from the environment (ConfigError is reported by ``main``)."""
    return Settings.from_env(**overrides)


class DateType(click.ParamType):
    name = "date"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date like 2026-01-31", param, ctx)


class AmountType(click.ParamType):
    name = "amount"

    def convert(self, value, param, ctx):
        if isinstance(value, Decimal):
            return value
        try:
            amount = Decimal(value)
        except InvalidOperation:
            self.fail(f"{value!r} is not a decimal amount", param, ctx)
        if not amount.is_finite() or amount < 0:
            self.fail(f"{value!r} must be a non-negative amount", param, ctx)
        return amount


DATE = DateType()
AMOUNT = AmountType()
