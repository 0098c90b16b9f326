"""The project's own XML Schemas and the registry that compiles each of them once per process.

Hot path: ``validate`` / ``assert_valid`` use lxml (libxml2), which is fast.
Error reporting only: ``explain`` uses the ``xmlschema`` package, slower but with element paths.

To add a message family (e.g. ``ceb-export.xsd`` for CEB303/403/505/603 ...): put the .xsd file in
this folder and add one entry to ``_FAMILIES``. Root element names must be unique across families.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lxml import etree

__all__ = [
    "CEB_NS",
    "SchemaViolation",
    "UnknownMessageType",
    "assert_valid",
    "explain",
    "message_types",
    "schema_for",
    "validate",
]

CEB_NS = "http://www.chinaport.gov.cn/ceb"

_DIR = Path(__file__).resolve().parent

DEC_NS = "http://www.chinaport.gov.cn/dec"

# schema file (in this folder) -> (target namespace or None, root elements it validates)
_FAMILIES: dict[str, tuple[str | None, tuple[str, ...]]] = {
    # general trade (0110): the declaration we send and its upload acknowledgement
    "dec.xsd": (DEC_NS, ("DecMessage", "DecImportResponse")),
    # general trade: the business receipt (no namespace [U], see the file)
    "dec-result.xsd": (None, ("DEC_DATA",)),
    "ceb-import.xsd": (
        CEB_NS,
        (
            # declarations we send
            "CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message",
            # receipts we receive
            "CEB312Message", "CEB412Message", "CEB512Message", "CEB622Message", "CEB900Message",
            # reversals (docs/corrections.md): cancellation, return, and their receipts
            "CEB623Message", "CEB625Message", "CEB624Message", "CEB626Message",
            # filings of the carrier and the site operator (docs/site-filings.md): waybill status, entry list
            "CEB513Message", "CEB711Message",
        ),
    ),
    "ceb-export.xsd": (
        CEB_NS,
        (
            # declarations we send (9610 / 1210 / 1239 export)
            "CEB303Message", "CEB403Message", "CEB505Message", "CEB507Message", "CEB509Message",
            "CEB603Message", "CEB607Message", "CEB701Message",
            # receipts we receive, and the customs-originated summary result
            "CEB304Message", "CEB404Message", "CEB506Message", "CEB508Message", "CEB510Message",
            "CEB604Message", "CEB608Message", "CEB702Message", "CEB792Message",
            # reversals (docs/corrections.md): cancellation, return, and their receipts
            "CEB605Message", "CEB213Message", "CEB606Message", "CEB214Message",
            # the site operator's tally of returned parcels (docs/site-filings.md)
            "CEB215Message",
        ),
    ),
    # our own records (not government messages): tax and FX results, signable
    "tax-record.xsd": ("urn:gateway:tax:1", ("TaxRecord", "RebateRecord")),
    "fx-record.xsd": ("urn:gateway:fx:1", ("FxRecord",)),
    # one entry, four agencies (docs/tax-fx.md "Agency filings"): the CBEC inspection record, the receipt
    # our agency desks answer records with, and the customs tax bill of a CBEC inventory (CEB816/818)
    "inspection-record.xsd": ("urn:gateway:inspection:1", ("InspectionRecord",)),
    "agency-receipt.xsd": ("urn:gateway:agency:1", ("AgencyReceipt",)),
    "ceb-tax.xsd": (CEB_NS, ("CEB816Message", "CEB818Message")),
}


def _index() -> dict[str, tuple[str, str | None]]:
    index: dict[str, tuple[str, str | None]] = {}
    for filename, (namespace, roots) in _FAMILIES.items():
        for root in roots:
            if root in index:
                raise RuntimeError(f"message type {root} is claimed by {index[root][0]} and {filename}")
            index[root] = (filename, namespace)
    return index


_INDEX = _index()  # message type -> (schema file, namespace)

# Never fetch anything while loading our own schemas: no entity expansion, no network.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)

_compile_lock = threading.Lock()
_lxml_schemas: dict[str, etree.XMLSchema] = {}
# lxml keeps the error log on the XMLSchema object, so two threads validating with the same
# object would mix their messages. validate() holds this lock per schema.
_validate_locks: dict[str, threading.Lock] = {}
_xmlschema_schemas: dict[str, object] = {}
# "{namespace}Root" -> (compiled schema, its lock) of the roots validate has met (known types only)
_by_tag: dict[str, tuple[etree.XMLSchema, threading.Lock]] = {}


class SchemaViolation(Exception):
    """A message does not comply with its schema. ``problems`` lists one readable line per error."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class UnknownMessageType(KeyError):
    """No schema is registered for this root element name."""

    def __str__(self) -> str:  # KeyError would print the repr of its argument
        return str(self.args[0])


def message_types() -> list[str]:
    """Every root element name the registry knows."""
    return sorted(_INDEX)


def _entry(message_type: str) -> tuple[str, str | None]:
    try:
        return _INDEX[message_type]
    except KeyError:
        raise UnknownMessageType(
            f"no schema for message type {message_type!r}; known: {', '.join(message_types())}"
        ) from None


def schema_for(message_type: str) -> etree.XMLSchema:
    """The compiled lxml schema for a root element name such as "CEB621Message" (compiled once)."""
    filename, _ = _entry(message_type)
    schema = _lxml_schemas.get(filename)
    if schema is None:
        with _compile_lock:
            schema = _lxml_schemas.get(filename)
            if schema is None:
                doc = etree.parse(str(_DIR / filename), _PARSER)
                schema = etree.XMLSchema(doc)
                _validate_locks[filename] = threading.Lock()
                _lxml_schemas[filename] = schema
    return schema


def _root_element(root) -> etree._Element:
    return root.getroot() if isinstance(root, etree._ElementTree) else root


def _check_root(element: etree._Element) -> tuple[str | None, list[str]]:
    """(message type, problems) for the root element; problems when nothing can validate it."""
    qname = etree.QName(element)
    where = f"line {element.sourceline}: " if element.sourceline else ""
    entry = _INDEX.get(qname.localname)
    if entry is None:
        return None, [
            f"{where}Element '{qname.text}': no schema for message type {qname.localname!r}; "
            f"known: {', '.join(message_types())}"
        ]
    if qname.namespace != entry[1]:
        return None, [f"{where}Element '{qname.text}': {qname.localname} must be in namespace {entry[1]!r}"]
    return qname.localname, []


def validate(root) -> list[str]:
    """Validate a message (lxml element or ElementTree) against the schema of its root element.

    Returns readable problems ("line 12: Element '{...}copNo': ...") or [] when valid.
    """
    element = _root_element(root)
    found = _by_tag.get(element.tag)     # the root's schema, looked up by its Clark name once
    if found is None:
        message_type, problems = _check_root(element)
        if message_type is None:   # no schema for this root: the problems say why
            return problems
        schema_for(message_type)
        filename, _ = _INDEX[message_type]
        _by_tag[element.tag] = found = (_lxml_schemas[filename], _validate_locks[filename])
    schema, lock = found
    with lock:
        if schema.validate(element):
            return []
        errors = list(schema.error_log)
    return [f"line {e.line}: {e.message}" if e.line else f"{e.path}: {e.message}" for e in errors]


def assert_valid(root) -> None:
    """Raise SchemaViolation unless the message is valid."""
    problems = validate(root)
    if problems:
        raise SchemaViolation(problems)


def _xmlschema_for(message_type: str):
    import xmlschema  # slow to import and to build; only needed for error reports

    filename, _ = _entry(message_type)
    with _compile_lock:
        schema = _xmlschema_schemas.get(filename)
        if schema is None:
            # "sandbox": only files under this folder may be loaded (the imported ds schema)
            schema = xmlschema.XMLSchema(str(_DIR / filename), allow="sandbox", defuse="always")
            _xmlschema_schemas[filename] = schema
    return schema


def explain(root) -> list[str]:
    """Detailed problems (element path + reason) from the xmlschema package. Error reports only."""
    element = _root_element(root)
    message_type, problems = _check_root(element)
    if message_type is None:   # no schema for this root: the problems say why
        return problems
    import xmlschema

    schema = _xmlschema_for(message_type)
    # The element is already parsed: wrapping it keeps the schema's file sandbox out of the way.
    errors = schema.iter_errors(xmlschema.XMLResource(element))
    return [f"{error.path or '/'}: {error.reason or error.message}" for error in errors]


_VERSION: str | None = None


def version() -> str:
    """A short fingerprint of every schema file shipped: recorded with each filing so a replay can
    tell whether it runs on the schemas the filing was built with."""
    global _VERSION
    if _VERSION is None:
        import hashlib

        h = hashlib.sha256()
        for path in sorted(_DIR.glob("*.xsd")):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
        _VERSION = h.hexdigest()[:16]
    return _VERSION
