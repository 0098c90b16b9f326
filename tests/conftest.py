"""Shared storage fixtures: run storage tests on SQLite and on PostgreSQL.

- ``db_url``: parametrised ``sqlite`` (a file in tmp_path) and ``postgres`` (a fresh database
  ``gw_test_<hex>`` on 127.0.0.1:5432, dropped afterwards). The postgres case carries the
  ``postgres`` marker, so ``-m "not postgres"`` deselects it.
- PostgreSQL unreachable: the postgres cases are skipped, loudly, and the run ends with a
  one-line count; with ``CI=true`` they fail instead (CI must test both databases).
- ``migrated_engine``: an engine on ``db_url`` after ``upgrade``.
- A SQLite database file that does not exist yet when ``gateway.store.db.upgrade`` runs to the heads in
  this process is first copied from a template migrated once per test process (the same schema the
  migrations build, ~0.2 s less per test); an existing file, a revision other than the heads, PostgreSQL
  and the gateway processes tests start run the migrations as they are.
"""
from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PG_SKIP_REASON = f"PostgreSQL not reachable on {PG_HOST}:{PG_PORT} — storage tests ran on SQLite only"

_pg_probe: dict[str, object] = {}  # cached once per run: {"ok": bool, "error": str}


def _pg_admin_connect():
    import psycopg

    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True, connect_timeout=3
    )


def _pg_reachable() -> tuple[bool, str]:
    if not _pg_probe:
        try:
            with _pg_admin_connect() as conn:
                conn.execute("SELECT 1")
            _pg_probe.update(ok=True, error="")
        except Exception as exc:  # any failure to connect means "not reachable"
            _pg_probe.update(ok=False, error=f"{type(exc).__name__}: {exc}".strip())
    return bool(_pg_probe["ok"]), str(_pg_probe["error"])


@pytest.fixture
def postgres_url():
    """URL of a fresh, empty PostgreSQL database, dropped at teardown."""
    from psycopg import sql

    ok, error = _pg_reachable()
    if not ok:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and PostgreSQL is required: {PG_SKIP_REASON} ({error})", pytrace=False)
        pytest.skip(PG_SKIP_REASON)
    name = f"gw_test_{secrets.token_hex(6)}"
    with _pg_admin_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with _pg_admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{(tmp_path / 'gateway.sqlite3').as_posix()}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request):
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def migrated_engine(db_url):
    from gateway.store.db import make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


# ---- SQLite databases start from a migrated template (this process only) ----------------------

@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    from gateway.store import db

    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"
    engine = db.make_engine(f"sqlite:///{path.as_posix()}")
    try:
        db.upgrade(engine)
    finally:
        engine.dispose()                        # the last connection closed: its WAL checkpointed into the file
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


@pytest.fixture(autouse=True)
def _sqlite_from_template(monkeypatch, _sqlite_template):
    from gateway.store import db

    real = db.upgrade

    def upgrade(engine, revision: str = "heads") -> None:
        url = engine.url
        if revision == "heads" and url.get_backend_name() == "sqlite" and url.database \
                and url.database != ":memory:" and not os.path.exists(url.database):
            shutil.copyfile(_sqlite_template, url.database)
        real(engine, revision)

    monkeypatch.setattr(db, "upgrade", upgrade)


# ---- end-of-run summary: how many tests PostgreSQL's absence skipped -------------------------

_pg_counts = {"postgres_tests": 0, "skipped_no_pg": 0}


def pytest_runtest_logreport(report):
    if report.when != "setup":
        return
    if "postgres" in report.keywords:
        _pg_counts["postgres_tests"] += 1
    if report.skipped and PG_SKIP_REASON in str(report.longrepr):
        _pg_counts["skipped_no_pg"] += 1


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    """Printed after everything else (outermost wrapper), so it is the last line before the
    final "N passed, M skipped" bar."""
    result = yield
    _print_pg_summary(terminalreporter)
    return result


def _print_pg_summary(terminalreporter) -> None:
    total, skipped = _pg_counts["postgres_tests"], _pg_counts["skipped_no_pg"]
    if not total and not skipped:
        return
    if skipped:
        terminalreporter.write_sep(
            "!",
            f"{skipped} of {total} PostgreSQL test(s) SKIPPED: PostgreSQL absent on {PG_HOST}:{PG_PORT}"
            " — storage was tested on SQLite only",
            red=True,
            bold=True,
        )
    else:
        terminalreporter.write_line(f"storage: {total} PostgreSQL test(s) ran against {PG_HOST}:{PG_PORT}")


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory):
    """One development signing key for the whole test session (RSA key generation is slow)."""
    from gateway.signing import ensure_dev_key

    return ensure_dev_key(tmp_path_factory.mktemp("keys"))
