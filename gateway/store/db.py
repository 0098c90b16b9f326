"""Engine set-up and migrations.

- ``make_engine(url)``: SQLite (file: WAL, foreign keys, synchronous=FULL, busy timeout,
  transactions that start with BEGIN IMMEDIATE) or PostgreSQL through psycopg 3
  (``postgresql://`` is rewritten to ``postgresql+psycopg://``).
- ``read_only(engine)``: the same engine (pool, listeners) whose transactions only read: on SQLite
  they start with a plain (deferred) BEGIN, a WAL snapshot that neither takes nor waits for the
  write lock. ``reader(uow_factory)``: a unit-of-work factory's read-only variant, when it has one.
- ``upgrade(engine)``: Alembic to head, programmatically; safe to call on every start.
- ``session_factory(engine)``: the sessionmaker a ``UnitOfWork`` takes.
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from .sqlite_writelock import WriteLock

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
# Any constant works; it only has to be the same for every process running migrations.
_PG_MIGRATION_LOCK_KEY = 0x6777_0001
READ_ONLY_OPTION = "gateway_read_only"


def default_sqlite_url(instance_dir: Path) -> str:
    """``sqlite:///<instance_dir>/gateway.sqlite3`` (absolute path)."""
    return f"sqlite:///{(Path(instance_dir).resolve() / 'gateway.sqlite3').as_posix()}"


def sqlite_file(url: str | URL) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL and in-memory SQLite)."""
    u = normalize_url(url)
    database = u.database or ""
    if u.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).resolve()


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; ``postgresql://`` and ``postgres://`` become ``postgresql+psycopg://``."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def make_engine(url: str | URL, **kwargs) -> Engine:
    """Create an engine for SQLite or PostgreSQL. Extra ``kwargs`` go to ``create_engine``."""
    u = normalize_url(url)
    if u.get_backend_name() == "sqlite":
        return _make_sqlite_engine(u, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(u, **kwargs)


def _make_sqlite_engine(u: URL, **kwargs) -> Engine:
    database = u.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_SECONDS)
    engine = create_engine(u, connect_args=connect_args, **kwargs)
    write_lock = None if in_memory else WriteLock(database, connect_args["timeout"])
    if write_lock:
        write_lock.attach(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so that
        # SAVEPOINT and transactional DDL work (SQLAlchemy's documented pysqlite recipe).
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        try:
            cur.execute("PRAGMA foreign_keys=ON")
            if not in_memory:
                cur.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed order survives power loss ("201 means durable").
            cur.execute("PRAGMA synchronous=FULL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # IMMEDIATE: take the write lock when the transaction starts, waiting up to the busy
        # timeout. A deferred transaction that reads and then writes fails at once with
        # "database is locked" if another writer committed in between; IMMEDIATE queues it
        # instead. It also makes a unit of work exclusive among writers, which is what keeps
        # outbox.claim_due safe on SQLite. Cost: transactions run one at a time (embedded scale).
        # Read-only transactions (``read_only(engine)``: authentication, planning reads) start
        # deferred: a WAL snapshot, so they neither wait behind the dispatcher's writes nor hold
        # the lock from it.
        # Writers first take the advisory write lock (sqlite_writelock.py): handed on within 2 ms
        # instead of SQLite's busy handler's sleeps of up to 100 ms.
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            conn.exec_driver_sql("BEGIN")
            return
        if write_lock:
            write_lock.acquire(conn.connection.dbapi_connection)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if write_lock:
                write_lock.release(conn.connection.dbapi_connection)
            raise

    return engine


def read_only(engine: Engine) -> Engine:
    """``engine`` for transactions that never write (see ``_on_begin``); the same pool."""
    return engine.execution_options(**{READ_ONLY_OPTION: True})


def reader(uow_factory):
    """The read-only variant (``uow_factory.read_only``) of a unit-of-work factory, else the factory
    itself. Only for work that never writes: on SQLite a write there fails at once when another
    writer committed since the transaction began."""
    return getattr(uow_factory, "read_only", uow_factory)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (``expire_on_commit=False``)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic ``Config`` built in code (no alembic.ini). ``url`` is for the alembic CLI
    style of use; ``upgrade`` passes a live connection instead."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        rendered = normalize_url(url).render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Run migrations up to ``revision`` in one transaction. Idempotent.

    On PostgreSQL an advisory lock makes concurrent starters (several workers) wait for each
    other instead of racing on the same DDL.
    """
    cfg = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision(s) the database is at (comma-separated when migrations branch), or None when
    it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None


def code_heads() -> str:
    """The head revision(s) of the migrations shipped with the code."""
    from alembic.script import ScriptDirectory

    return ",".join(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))
