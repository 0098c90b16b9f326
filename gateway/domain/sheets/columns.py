"""One column mapping per order format, derived from the format's JSON Schema (so a field added to the
schema is a column at once): one row per goods line, the order's columns repeated on each line's row.

A column is a JSON path: order fields by their dotted path (``payment.company.code``), goods-line fields
under ``lines.`` (``lines.unit_price``). What a cell holds follows the schema: text (money and
quantities too: they stay exact), an integer, a yes/no, a date-time, a date, a list of texts joined
with ``|`` (``lines.spec_elements``), or JSON for a list of objects (``containers``)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from ..cbec_export.intake import SCHEMA as EXPORT_SCHEMA
from ..cbec_import.intake import SCHEMA as IMPORT_SCHEMA
from ..general_trade.intake import SCHEMA as GT_SCHEMA
from .labels import label

FORMATS = {"cbec-import": IMPORT_SCHEMA, "cbec-export": EXPORT_SCHEMA, "general-trade": GT_SCHEMA}
TEXT, INTEGER, BOOLEAN, DATETIME, DATE, LIST, JSON = "text", "integer", "boolean", "datetime", "date", "list", "json"
LINES = "lines"


@dataclass(frozen=True)
class Column:
    key: str                  # English header and JSON path: "payment.amount", "lines.unit_price"
    label: str                # Chinese header: "支付金额"
    kind: str                 # TEXT, INTEGER, BOOLEAN, DATETIME, DATE, LIST or JSON

    @property
    def line(self) -> bool:
        return self.key.startswith(LINES + ".")

    @property
    def path(self) -> tuple[str, ...]:
        """The path inside the order (order columns) or inside its goods line (``lines.`` columns)."""
        parts = tuple(self.key.split("."))
        return parts[1:] if self.line else parts


def _kind(node: dict) -> str:
    kind = node.get("type")
    if kind == "integer":
        return INTEGER
    if kind == "boolean":
        return BOOLEAN
    if kind == "array":
        items = node.get("items", {})
        return LIST if items.get("type") == "string" else JSON
    pattern = node.get("pattern", "")
    if pattern.startswith("^[0-9]{4}-[0-9]{2}-[0-9]{2}"):
        return DATETIME if "T" in pattern else DATE
    return TEXT


def _walk(schema: dict, node: dict, prefix: str, out: list[Column]) -> None:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    if "properties" in node:
        for name, sub in node["properties"].items():
            _walk(schema, sub, f"{prefix}{name}.", out)
    elif prefix == LINES + "." and node.get("type") == "array":
        _walk(schema, node["items"], prefix, out)
    else:
        key = prefix.rstrip(".")
        out.append(Column(key, "", _kind(node)))


@cache
def columns(fmt: str) -> tuple[Column, ...]:
    """The columns of one format (``cbec-import``, ``cbec-export``, ``general-trade``), in the schema's order."""
    out: list[Column] = []
    _walk(FORMATS[fmt].document, FORMATS[fmt].document, "", out)
    return tuple(Column(c.key, _label(c.key), c.kind) for c in out)


def _label(key: str) -> str:
    text = label(key)
    if key.startswith(LINES + ".") and _order_label_taken(text):
        return "商品" + text
    return text


@cache
def _order_labels() -> frozenset[str]:
    found: set[str] = set()
    for schema in FORMATS.values():
        keys: list[Column] = []
        _walk(schema.document, schema.document, "", keys)
        found.update(label(c.key) for c in keys if not c.key.startswith(LINES + "."))
    return frozenset(found)


def _order_label_taken(text: str) -> bool:
    return text in _order_labels()


@cache
def all_columns() -> dict[str, Column]:
    """Every format's columns by English key and by Chinese label: a file's headers are read against
    these (the row's ``regime`` and ``direction`` then pick the format, as for JSON)."""
    found: dict[str, Column] = {}
    for fmt in FORMATS:
        for c in columns(fmt):
            found.setdefault(c.key, c)
            found.setdefault(c.label, c)
    return found


def order_key_columns() -> tuple[str, ...]:
    """The columns that number an order in a file (CBEC ``order_no``, general trade ``client_ref``)."""
    return ("order_no", "client_ref")
