"""SQLite writers hand the write lock on at once, instead of by SQLite's busy handler.

SQLite lets one writer at a time in; a ``BEGIN IMMEDIATE`` that finds the lock taken is retried by
SQLite's busy handler, which sleeps between tries (1, 2, 5, 10 … up to 100 ms). Under concurrent
writers — the API's workers and the dispatcher process of ``gateway serve`` on the embedded
database — a writer that just missed the lock sleeps on while the lock is free, and one that keeps
missing it starves: single-order POSTs at concurrency 4 waited up to half a second for a lock that
was free most of that time (docs/performance.md, "The embedded database's write lock").

So a write transaction first takes an advisory ``flock`` on ``<database>-writelock``, one open file a
connection (a lock of one open file conflicts with the locks of every other, in the same process
too), trying again every 0.5 to 2 ms: a waiter gets in within 2 ms of the holder letting go. The
lock is released right after COMMIT or ROLLBACK. SQLite's own lock still
decides correctness: anything that writes without this lock (Alembic, a tool) only waits as before.

The wait is bounded by the busy timeout: a holder that does not let go within it (a hung process,
or a second write connection opened by the thread that holds the first) is passed over, and
``BEGIN IMMEDIATE`` waits and fails exactly as it would without this lock.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time

from sqlalchemy import Engine, event


def _key(connection) -> int:
    """The raw sqlite3 connection's id, given it or the pool's proxy of it (what ``do_commit`` gets)."""
    return id(getattr(connection, "dbapi_connection", None) or connection)


class WriteLock:
    """The advisory write lock of one SQLite database file, a file descriptor per connection."""

    def __init__(self, database: str, timeout: float):
        self.paths = (f"{database}-writelock", f"{database}-writegate")
        self.timeout = timeout
        self._fds: dict[int, tuple[int, ...]] = {}     # id(dbapi connection) -> its own open files
        self._held: set[int] = set()
        self._mutex = threading.Lock()

    def attach(self, engine: Engine) -> None:
        """Take the lock before ``begin`` of a write transaction, release it after COMMIT/ROLLBACK."""
        dialect = engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_connection):
            try:
                commit(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        def do_rollback(dbapi_connection):
            try:
                rollback(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        dialect.do_commit = do_commit            # type: ignore[method-assign]
        dialect.do_rollback = do_rollback        # type: ignore[method-assign]

        @event.listens_for(engine, "close")
        def _on_close(dbapi_connection, _record):
            self.forget(dbapi_connection)

    def acquire(self, dbapi_connection) -> None:
        key = _key(dbapi_connection)
        if key in self._held:
            return
        fds = self._fds.get(key)
        if fds is None:
            fds = tuple(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600) for path in self.paths)
            with self._mutex:
                self._fds[key] = fds
        lock_fd, gate_fd = fds
        deadline = time.monotonic() + self.timeout
        # In line at the gate first: a writer that lets go and comes straight back (the dispatcher,
        # batch after batch) finds the gate held by the one waiting and waits its turn behind it.
        gated = _take(gate_fd, deadline)
        try:
            if _take(lock_fd, deadline):
                self._held.add(key)
            # else passed over: SQLite's busy handler decides
        finally:
            if gated:
                fcntl.flock(gate_fd, fcntl.LOCK_UN)

    def release(self, dbapi_connection) -> None:
        key = _key(dbapi_connection)
        if key in self._held:
            self._held.discard(key)
            fcntl.flock(self._fds[key][0], fcntl.LOCK_UN)

    def forget(self, dbapi_connection) -> None:
        key = _key(dbapi_connection)
        self.release(dbapi_connection)
        with self._mutex:
            fds = self._fds.pop(key, ())
        for fd in fds:
            os.close(fd)


def _take(fd: int, deadline: float) -> bool:
    """flock(fd) exclusively, trying every 0.5-2 ms until ``deadline``; False when it passed."""
    pause = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.002)
