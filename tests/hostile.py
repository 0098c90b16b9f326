"""Shared by the hostile-input, race and fuzz tests: a valid order of each format, every table's
row count, and what every refusal must look like (problem+json; 422s name a path and a rule)."""
from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from gateway.store import models as m
from tests.helpers import ROOT, VALID

EXPORT = ROOT / "fixtures" / "orders" / "export" / "valid"
GENERAL = ROOT / "fixtures" / "orders" / "general" / "valid"

# one valid order per format: CBEC import (9610 direct mail: the annual ledger), CBEC export, general trade
FORMATS = {
    "cbec-import": VALID / "9610-minimal.json",
    "cbec-export": EXPORT / "9610-simplified-air-usa.json",
    "general-trade": GENERAL / "gt-import-wine.json",
}


def order(kind: str = "cbec-import") -> dict:
    return json.loads(Path(FORMATS[kind]).read_text("utf-8"))


def number_key(kind: str) -> tuple:
    """Where the order's number sits (renumbering makes a new order)."""
    return ("client_ref",) if kind == "general-trade" else ("order_no",)


def renumbered(data: dict, kind: str, suffix: str) -> dict:
    data = json.loads(json.dumps(data))
    key = number_key(kind)[0]
    data[key] = (data[key] + suffix)[-18:] if kind == "general-trade" else data[key] + suffix
    return data


def row_counts(gw) -> dict[str, int]:
    """The number of rows of every table."""
    with gw.uow_factory() as uow:
        return {t.name: uow.session.scalar(select(func.count()).select_from(t)) for t in m.Base.metadata.sorted_tables}


def assert_problem(response, status: int) -> dict:
    """An RFC 9457 problem with the expected status; a 422 names a path and a rule for each problem."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json()
    assert {"type", "title", "status", "detail", "instance", "problems"} <= set(body), body
    assert body["status"] == status
    if status == 422:
        assert body["problems"], body
        assert all(p["path"].startswith("$") and p["rule"] and p["message"] for p in body["problems"]), body
    return body


def rules_at(body: dict) -> set[tuple[str, str]]:
    return {(p["path"], p["rule"]) for p in body["problems"]}
