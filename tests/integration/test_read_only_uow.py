"""Reads that never queue for SQLite's write lock (gateway.store.db.read_only / reader) and the
dispatcher processes' lower priority (gateway.dispatch_processes, GATEWAY_DISPATCH_NICE)."""
from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from gateway.dispatch_processes import DispatcherProcesses
from gateway.store.db import make_engine, read_only, reader, session_factory, upgrade
from gateway.store.models import Tenant
from gateway.store.tenants import create_tenant
from gateway.store.uow import UnitOfWork

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'g.sqlite3'}", connect_args={"timeout": 0.3})
    upgrade(engine)
    yield engine
    engine.dispose()


def test_a_read_only_unit_of_work_reads_while_a_writer_holds_the_sqlite_lock(sqlite_engine):
    writes, reads = session_factory(sqlite_engine), session_factory(read_only(sqlite_engine))
    with UnitOfWork(writes) as uow:
        tenant, key = create_tenant(uow, "Shop", "3301964J31", "Shop Ltd", "DXPENT0000012345", now=T0)
        uow.commit()
    with UnitOfWork(writes) as writer:          # BEGIN IMMEDIATE: the write lock, held (not committed)
        create_tenant(writer, "Other", "3301964J32", "Other Ltd", "DXPENT0000012346", now=T0)
        writer.flush()
        t0 = time.monotonic()
        with UnitOfWork(reads) as r:            # deferred: a WAL snapshot, no wait
            found = r.api_keys.find_tenant(key)
            assert found is not None and found.id == tenant.id
            assert r.session.scalar(select(func.count()).select_from(Tenant)) == 1   # only what was committed
        assert time.monotonic() - t0 < 0.3      # not the busy timeout
        with pytest.raises(OperationalError, match="locked"), UnitOfWork(writes) as w2:   # a writer waits, then fails
            w2.tenants.get(tenant.id)


def test_reader_picks_the_read_only_variant_when_the_factory_has_one():
    def plain():
        return "uow"

    class Factory:
        def __call__(self):
            return "writer"

        def read_only(self):
            return "reader"

    assert reader(plain) is plain
    assert reader(Factory())() == "reader"


def test_bootstrapped_gateway_authenticates_in_a_read_only_unit_of_work(tmp_path):
    from gateway.bootstrap import bootstrap
    from gateway.config import Settings

    gw = bootstrap(Settings(instance_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'g.sqlite3'}"))
    try:
        with gw.uow_factory() as uow:
            tenant, key = create_tenant(uow, "Shop", "3301964J31", "Shop Ltd", "DXPENT0000012345", now=T0)
            uow.commit()
        with gw.uow_factory.read_only() as r:
            assert r.session.connection().get_execution_options().get("gateway_read_only") is True
            assert r.api_keys.find_tenant(key).id == tenant.id
        with gw.uow_factory() as w:
            assert not w.session.connection().get_execution_options().get("gateway_read_only")
    finally:
        gw.engine.dispose()


def test_serve_starts_its_dispatchers_with_the_niceness_asked():
    assert DispatcherProcesses(1, 1.0, nice=7).command(0)[-2:] == ["--nice", "7"]
    assert "--nice" not in DispatcherProcesses(1, 1.0).command(0)


@pytest.mark.skipif(not hasattr(os, "nice"), reason="POSIX niceness")
def test_dispatch_run_lowers_its_priority_once_started(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gateway import runtime
    from gateway.cli import cli

    calls: list = []
    started = runtime.dispatching_gateway

    def gateway_then_nice(**kw):
        gw = started(**kw)
        calls.append("started")
        return gw

    monkeypatch.setattr(runtime, "dispatching_gateway", gateway_then_nice)
    monkeypatch.setattr(os, "nice", lambda n: calls.append(("nice", n)))
    result = CliRunner().invoke(cli, ["dispatch", "run", "--until-idle", "--interval", "0.01", "--nice", "7"],
                                env={"GATEWAY_INSTANCE_DIR": str(tmp_path / "instance")})
    assert result.exit_code == 0, result.output
    assert calls == ["started", ("nice", 7)]            # after the start-up, once
