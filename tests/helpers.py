"""Test helpers shared by the integration and end-to-end tests."""
from __future__ import annotations

import functools
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gateway.adapters.sandbox import SandboxGovernment
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.ports import FixedClock, SequentialIds
from gateway.service.tenants import add_enterprises, codes_named
from gateway.store.tenants import create_tenant

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "fixtures" / "orders" / "valid"
INVALID = ROOT / "fixtures" / "orders" / "invalid"
REFERENCE = Path(__import__("os").environ.get("CEB_REFERENCE_DIR", ROOT.parent / "shared/reference/ceb-202205"))
START = datetime(2026, 11, 20, 10, 0, 0, tzinfo=timezone(timedelta(hours=8)))


def valid_fixtures() -> list[Path]:
    return sorted(VALID.glob("*.json"))


def invalid_fixtures() -> list[Path]:
    return sorted(p for p in INVALID.glob("*.json") if p.name != "expected.json")


def fixture_text(name: str) -> str:
    return (VALID / name).read_text("utf-8")


def fixture_json(name: str) -> dict:
    return json.loads(fixture_text(name))


def offline_resolver(host: str, port: int) -> list[str]:
    """A stand-in for DNS that asks nobody: every host name is one public address (webhook registration
    in tests must never send a DNS query off this machine)."""
    return ["93.184.216.34"]


def make_gateway(tmp_path: Path, db_url: str, key, script=None):
    """A gateway on the given database with a deterministic clock and ids and an in-process sandbox."""
    clock = FixedClock(START, step_seconds=1)
    sandbox = SandboxGovernment(clock=clock, ids=SequentialIds(prefix="5A4D8B00-0000-4000-9000"), script=script)
    settings = Settings(instance_dir=tmp_path / "instance", database_url=db_url, auto_migrate="always")
    gw = bootstrap(settings, clock=clock, ids=SequentialIds(), adapters={"sandbox": sandbox}, key=key)
    return gw, sandbox


@functools.cache
def fixture_enterprises() -> tuple[str, ...]:
    """Every enterprise code the valid fixtures of the three formats name (a test tenant is the
    one-stop provider of all of them)."""
    folders = (VALID, VALID.parent / "export" / "valid", VALID.parent / "general" / "valid")
    return tuple(codes_named([p.read_text("utf-8") for folder in folders for p in sorted(folder.glob("*.json"))],
                             START))


def add_tenant(gw, name="Tenant A", cop_code="4601980ABC", enterprises=None):
    """A tenant with the enterprise codes it may file under (default: every fixture's)."""
    with gw.uow_factory() as uow:
        tenant, key = create_tenant(uow, name, cop_code, f"{name} 有限公司", "DXPENT0000458763")
        tenant_id = tenant.id
        uow.commit()
    codes = fixture_enterprises() if enterprises is None else enterprises
    if codes:
        add_enterprises(gw.uow_factory, gw.clock, tenant_id, [{"code": c} for c in codes])
    return tenant_id, key


def submit_sent_anyway(gw, tenant_id: str, body):
    """Submit an order; when the gateway holds it (a customs rule it knows it breaks, e.g. the
    single-transaction limit), release it as the operator would, so customs gets to refuse it."""
    sub = gw.submit(tenant_id, body)
    if gw.order(tenant_id, sub.order_id)["status"] == "held":
        sub = gw.release_held(tenant_id, sub.order_id, "test: let customs refuse it")
    return sub

