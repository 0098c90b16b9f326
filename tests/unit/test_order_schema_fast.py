"""The compiled order-schema validator (fastjsonschema, the hot path) never accepts what the reference
validator (jsonschema, which names the problems) refuses: both are run on every fixture of every
format and on thousands of one-field mutations of them (wrong types, floats, booleans, trailing
newlines, unknown and missing fields, out-of-range integers), and the problems an order gets are
the reference validator's, whichever path ran."""
from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import fastjsonschema
import pytest

from gateway.domain.cbec_export.intake import SCHEMA as EXPORT
from gateway.domain.cbec_import.intake import SCHEMA as IMPORT
from gateway.domain.common.schema import OrderSchema, schema_problem
from gateway.domain.text_rules import loads

ROOT = Path(__file__).resolve().parents[2]
FORMATS = {
    "cbec-import": (IMPORT, [ROOT / "fixtures/orders/valid", ROOT / "fixtures/orders/invalid"]),
    "cbec-export": (EXPORT, [ROOT / "fixtures/orders/export/valid", ROOT / "fixtures/orders/export/invalid"]),
}
try:
    from gateway.domain.general_trade.intake import SCHEMA as GENERAL

    FORMATS["general-trade"] = (GENERAL, [ROOT / "fixtures/orders/general/valid",
                                          ROOT / "fixtures/orders/general/invalid"])
except ImportError:      # pragma: no cover - the format ships with the gateway
    pass

# what each leaf is replaced with in turn
REPLACEMENTS = [None, True, 0, 1.0, Decimal("1.5"), 10**12, "", "x\n", "0" * 80, [], {}]


def _fixtures(dirs) -> list[dict]:
    out = []
    for d in dirs:
        for p in sorted(d.glob("*.json")):
            value = loads(p.read_text("utf-8"))
            if isinstance(value, dict):
                out.append(value)
    return out


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


def _set(doc, path, new):
    target = doc
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = new


def _mutations(order: dict):
    yield order
    for path in list(_paths(order)):
        if not path:
            continue
        old = order
        for p in path:
            old = old[p]
        for new in REPLACEMENTS:
            doc = copy.deepcopy(order)
            _set(doc, path, new)
            yield doc
        if isinstance(old, str):
            for new in (old + "\n", old + old):
                doc = copy.deepcopy(order)
                _set(doc, path, new)
                yield doc
        doc = copy.deepcopy(order)
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        if isinstance(parent, dict):
            del parent[path[-1]]
            yield doc
            parent["unexpected_field"] = "x"
            yield doc


def _reference(schema: OrderSchema, data) -> list:
    errors = sorted(schema._validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    return [schema_problem(e) for e in errors]


def _compiled_accepts(schema: OrderSchema, data) -> bool:
    try:
        schema._compiled(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_the_compiled_validator_is_never_more_lenient(kind):
    schema, dirs = FORMATS[kind]
    orders = _fixtures(dirs)
    assert orders, f"no fixtures for {kind}"
    checked = accepted = 0
    docs = [*orders, *(doc for order in orders[:1] for doc in _mutations(order))]   # mutations of one valid order
    for doc in docs:
        reference = _reference(schema, doc)
        assert schema.problems(doc) == reference, json.dumps(doc, default=str)[:300]
        if _compiled_accepts(schema, doc) and not _has_float_leaf(doc):
            assert reference == [], (reference, json.dumps(doc, default=str)[:300])
            accepted += 1
        checked += 1
    assert checked > 300 and accepted > 0     # the mutations ran, and the fast path answered some


def _has_float_leaf(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float_leaf(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float_leaf(v) for v in value)
    return False


def test_a_float_goes_to_the_reference_validator():
    # JSON Schema (and fastjsonschema) count 1.0 as an integer; the order formats do not
    order = _fixtures([ROOT / "fixtures/orders/valid"])[0]
    order["logistics"]["packages"] = 1.0
    problems = IMPORT.problems(order)
    assert [(p.path, p.rule) for p in problems] == [("$.logistics.packages", "schema:type")]


def test_a_final_newline_is_refused_by_both():
    order = _fixtures([ROOT / "fixtures/orders/valid"])[0]
    order["customs_code"] = order["customs_code"] + "\n"
    assert not _compiled_accepts(IMPORT, order)
    assert [p.rule for p in IMPORT.problems(order)] == ["schema:pattern"]
