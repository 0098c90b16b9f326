"""``gateway db upgrade|current``: the database schema (Alembic, gateway/store/migrations).

    gateway db upgrade     migrate the configured database to the code's head revision (run it
                           before deploying a new version on PostgreSQL; SQLite migrates itself
                           at start, GATEWAY_AUTO_MIGRATE)
    gateway db current     the code's head revision(s) and the database's; exit 1 when they differ
"""
from __future__ import annotations

import click

from gateway.store import db as store_db

from .common import FAILED, OK, settings


def _engine():
    config = settings()
    config.instance_dir.mkdir(parents=True, exist_ok=True)
    return store_db.make_engine(config.database_url or store_db.default_sqlite_url(config.instance_dir))


@click.group("db")
def db() -> None:
    """The database schema: migrate it, show its revision."""


@db.command("upgrade")
def upgrade() -> int:
    """Migrate the database to the code's head revision."""
    engine = _engine()
    try:
        before = store_db.current_revision(engine)
        store_db.upgrade(engine)
        after = store_db.current_revision(engine)
    finally:
        engine.dispose()
    click.echo(f"database: {before or '(empty)'} -> {after}" if before != after else f"database: at {after} already")
    return OK


@db.command("current")
def current() -> int:
    """The code's head revision and the database's (exit 1 when they differ)."""
    engine = _engine()
    try:
        at = store_db.current_revision(engine)
    finally:
        engine.dispose()
    heads = store_db.code_heads()
    click.echo(f"code:     {heads}")
    click.echo(f"database: {at or '(empty)'}")
    if at != heads:
        click.echo("the database is not at the code's revision: run `gateway db upgrade`", err=True)
        return FAILED
    return OK


COMMANDS = (db,)
