r"""Reading an order: JSON text in (Decimal for every number with a fraction), checked against the format's
JSON Schema, every schema error turned into a ``Problem`` that names the field and the rule.

Two validators of the same schema: a compiled one (fastjsonschema, Python code generated once) answers
"valid" on the hot path; only when it refuses, or when the value holds a float (JSON Schema would
count 1.0 as an integer, the order formats do not), the ``jsonschema`` validator runs and names every
problem as before. The compiled one is never more lenient: the schemas use draft-7 keywords only,
patterns are anchored to the whole value (``\A(?:…)\Z``, as ``text_rules.fullmatch_pattern``), enums
hold strings, and tests/unit/test_order_schema_fast.py checks both agree on the fixtures and hostile
inputs."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import cached_property
from importlib import resources
from typing import Any, TypeVar

import fastjsonschema
from jsonschema import Draft202012Validator, validators

from .. import text_rules
from ..problems import OrderInvalid, Problem

T = TypeVar("T")


def loads(text: str | bytes):
    """Parse JSON text strictly (``text_rules.loads``: UTF-8 only, numbers with a fraction exact (Decimal)
    so the schema can refuse them, repeated keys marked for rule ``duplicate-key``)."""
    return text_rules.loads(text)


def order_object(data) -> dict:
    """An order as a dict: JSON text is parsed; anything but a JSON object is refused."""
    if isinstance(data, (str, bytes)):
        data = loads(data)
    if not isinstance(data, dict):
        raise OrderInvalid([Problem("$", "schema:type", "an order is a JSON object")])
    return data


def _is_strict_integer(checker, instance) -> bool:
    # JSON Schema counts 1.0 as an integer; an order's counts must be real integers.
    return isinstance(instance, int) and not isinstance(instance, bool)


def json_path(parts: Iterable) -> str:
    path = "$"
    for p in parts:
        path += f"[{p}]" if isinstance(p, int) else f".{p}"
    return path


def schema_problem(err) -> Problem:
    path = json_path(err.absolute_path)
    rule = f"schema:{err.validator}"
    if err.validator == "required":
        # name the missing field itself
        missing = err.message.split("'")[1] if "'" in err.message else ""
        return Problem(f"{path}.{missing}" if missing else path, rule, f"{missing} is required")
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        field = f"{path}.{extra[0]}" if len(extra) == 1 else path
        return Problem(field, rule, f"unknown field(s) {', '.join(extra)}: not part of the order format")
    if err.validator == "pattern" and err.schema.get("description"):
        return Problem(path, rule, f"{err.instance!r} is not valid: {err.schema['description']}")
    if err.validator == "type" and err.validator_value == "string" and isinstance(err.instance, (int, float, Decimal)):
        return Problem(path, rule, f"{err.instance} must be a string (decimal values are sent as strings, never numbers)")
    return Problem(path, rule, err.message)


def _anchored(schema):
    """A copy of ``schema`` whose patterns match the whole value (fastjsonschema uses ``re.search``)."""
    if isinstance(schema, dict):
        return {k: (rf"\A(?:{v})\Z" if k == "pattern" and isinstance(v, str) else _anchored(v))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_anchored(v) for v in schema]
    return schema


def _has_float(value) -> bool:
    """Whether a float is anywhere in ``value`` (walked with a stack: this runs for every order)."""
    stack = [value]
    pop, push, push_all = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        cls = item.__class__
        if cls is str:
            continue
        if cls is dict:
            push_all(item.values())
        elif cls is list:
            push_all(item)
        elif isinstance(item, float):
            return True
        elif isinstance(item, dict):
            push(dict(item))    # a dict subclass: walked like a dict
        elif isinstance(item, list):
            push(list(item))
    return False


class OrderSchema:
    """The JSON Schema of one order format (``order.schema.json`` in the format's package), read and
    compiled once, on first use."""

    def __init__(self, package: str, name: str = "order.schema.json"):
        self.package, self.name = package, name

    @cached_property
    def document(self) -> dict:
        return json.loads(resources.files(self.package).joinpath(self.name).read_text("utf-8"))

    @cached_property
    def _validator(self) -> Any:
        Draft202012Validator.check_schema(self.document)
        checker = Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer)
        # patterns match the whole value (text_rules.fullmatch_pattern): no final newline slips through
        return validators.extend(Draft202012Validator, {"pattern": text_rules.fullmatch_pattern},
                                 type_checker=checker)(self.document)

    @cached_property
    def _compiled(self) -> Callable[[Any], Any]:
        return fastjsonschema.compile(_anchored(self.document))

    def problems(self, data) -> list[Problem]:
        if not _has_float(data):
            try:
                self._compiled(data)
                return []
            except fastjsonschema.JsonSchemaException:
                pass        # name every problem with the reference validator
        errors = sorted(self._validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
        return [schema_problem(e) for e in errors]

    def parse(self, data, *, dates: Callable[[dict], list[Problem]], build: Callable[[dict], T],
              check: Callable[[T], list[Problem]]) -> T:
        """Two passes: the schema and real ``dates`` of the JSON (``data``: a dict or JSON text), then
        ``check`` of the typed order ``build`` made. Raises OrderInvalid with every problem of the first
        pass that found any."""
        data = order_object(data)
        problems = self.problems(data) or dates(data)
        if problems:
            raise OrderInvalid(problems)
        order = build(data)
        problems = check(order)
        if problems:
            raise OrderInvalid(problems)
        return order


def unreal_dates(candidates: Iterable[tuple[str, Any, Callable[[str], object]]], what: str = "date") -> list[Problem]:
    """The schema checks the shape of dates; this checks that they exist (no 31 November). ``candidates``:
    (JSON path, value or None, parser)."""
    problems = []
    for path, value, parse in candidates:
        if value is None:
            continue
        try:
            parse(value)
        except ValueError as exc:
            problems.append(Problem(path, "schema:format", f"{value!r} is not a real {what}: {exc}"))
    return problems
