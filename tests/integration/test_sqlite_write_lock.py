"""SQLite writers take the advisory write lock (gateway/store/sqlite_writelock.py) for exactly as long
as their transaction, readers never, and a holder that never lets go is passed over."""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text

from gateway.store.db import make_engine, read_only


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "g.db"
    engine = make_engine(f"sqlite:///{path}", connect_args={"timeout": 0.5})
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (x INTEGER)"))
    yield engine, path
    engine.dispose()


def _held(path) -> bool:
    """Whether another open file finds ``path`` locked."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def test_a_write_transaction_holds_the_lock_until_commit_or_rollback(db):
    engine, path = db
    lock = f"{path}-writelock"
    with engine.connect() as c:
        c.begin()
        c.execute(text("INSERT INTO t VALUES (1)"))
        assert _held(lock)
        c.commit()
        assert not _held(lock)
        c.begin()
        c.execute(text("INSERT INTO t VALUES (2)"))
        assert _held(lock)
        c.rollback()
        assert not _held(lock)
    with engine.connect() as c:
        assert c.execute(text("SELECT x FROM t")).scalars().all() == [1]


def test_a_failed_transaction_lets_go_too(db):
    engine, path = db
    with pytest.raises(ZeroDivisionError), engine.begin() as c:
        c.execute(text("INSERT INTO t VALUES (1)"))
        raise ZeroDivisionError
    assert not _held(f"{path}-writelock")


def test_a_read_only_transaction_takes_no_lock(db):
    engine, path = db
    with read_only(engine).connect() as c, c.begin():
        c.execute(text("SELECT count(*) FROM t"))
        assert not _held(f"{path}-writelock")


def test_a_session_unit_of_work_holds_it_for_its_transaction(db):
    from gateway.store.db import session_factory
    engine, path = db
    session = session_factory(engine)()
    session.execute(text("INSERT INTO t VALUES (3)"))
    assert _held(f"{path}-writelock")
    session.commit()
    assert not _held(f"{path}-writelock")
    session.close()


def test_writers_of_two_threads_take_turns(db):
    engine, path = db
    inside, overlaps = [0], []

    def write(k):
        for _ in range(20):
            with engine.begin() as c:
                inside[0] += 1
                overlaps.append(inside[0])
                c.execute(text("INSERT INTO t VALUES (:k)"), {"k": k})
                time.sleep(0.001)
                inside[0] -= 1

    threads = [threading.Thread(target=write, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(overlaps) == 1              # never two writers in their transactions at once
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM t")).scalar() == 60


def test_a_holder_that_never_lets_go_is_passed_over_after_the_busy_timeout(db):
    engine, path = db
    holder = subprocess.Popen(   # another process takes the lock file and keeps it (not SQLite's lock)
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(path) + '-writelock'!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        with engine.begin() as c:          # waits its 0.5 s, then SQLite (free) lets it in
            c.execute(text("INSERT INTO t VALUES (9)"))
        assert time.monotonic() - t0 >= 0.5
    finally:
        holder.kill()
        holder.wait()
    with engine.connect() as c:
        assert c.execute(text("SELECT x FROM t")).scalars().all() == [9]
