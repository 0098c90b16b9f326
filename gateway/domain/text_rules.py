"""Text that XML can carry, and JSON read strictly: one generic pass over every string of a parsed
order (any format) or request, before any per-format intake (docs/errors.md lists the rules).

- ``encoding``: the body is UTF-8 (a UTF-8 byte-order mark is dropped; no NUL byte, nothing UTF-16/32).
- ``duplicate-key``: a JSON object names a key once (``loads`` marks repeats; the walk reports them).
- ``xml-char``: every string (keys too) holds only characters of the XML 1.0 ``Char`` production,
  no lone surrogate, no non-character (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF) and no C1 control
  (U+0080..U+009F, discouraged by XML 1.0 §2.2).
- ``control-char``: identifiers, codes and names hold no control character at all, CR, LF and TAB
  included; only free-text fields (``FREE_TEXT``) may hold line breaks and tabs.
- ``whitespace`` / ``blank``: identifiers, codes and names have no surrounding whitespace and are not
  whitespace only.
- ``depth``: objects and arrays nest at most ``MAX_DEPTH`` deep.

Pure: nothing here does I/O.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from jsonschema.exceptions import ValidationError

from .problems import OrderInvalid, Problem

# fields of free text (any format, any request): line breaks and tabs allowed, surrounding blanks kept
FREE_TEXT = frozenset({
    "note", "description", "address", "goods_info", "spec", "spec_elements", "marks", "ingredients",
    "reason", "goods_spec", "goods_model", "batch_numbers",
})
MAX_DEPTH = 32

# not an XML 1.0 Char, a lone surrogate, a non-character or a C1 control
_NOT_XML = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    "\U0001fffe\U0001ffff\U0002fffe\U0002ffff\U0003fffe\U0003ffff\U0004fffe\U0004ffff"
    "\U0005fffe\U0005ffff\U0006fffe\U0006ffff\U0007fffe\U0007ffff\U0008fffe\U0008ffff"
    "\U0009fffe\U0009ffff\U000afffe\U000affff\U000bfffe\U000bffff\U000cfffe\U000cffff"
    "\U000dfffe\U000dffff\U000efffe\U000effff\U000ffffe\U000fffff\U0010fffe\U0010ffff]")
_CONTROL = re.compile("[\t\n\r]")      # XML allows them; identifiers and codes do not


class _Object(dict):
    """A JSON object that named some key more than once (the last value is kept, like ``json``)."""

    duplicate_keys: tuple[str, ...] = ()


def _object(pairs: list) -> dict:
    data = dict(pairs)
    if len(data) == len(pairs):
        return data
    marked = _Object(data)
    seen: set[str] = set()
    repeated: dict[str, None] = {}
    for k, _ in pairs:
        if k in seen:
            repeated[k] = None
        seen.add(k)
    marked.duplicate_keys = tuple(repeated)
    return marked


def decode(raw: bytes | str) -> str:
    """The body as text: UTF-8 only. Anything else is refused with rule ``encoding``."""
    if isinstance(raw, str):
        return raw
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw:
        raise OrderInvalid([Problem("$", "encoding", "the body is UTF-8 (UTF-16, UTF-32 and NUL bytes are refused)")])
    try:
        return raw.decode("utf-8-sig")      # a UTF-8 byte-order mark is dropped
    except UnicodeDecodeError as exc:
        raise OrderInvalid([Problem("$", "encoding", f"the body is not UTF-8: byte {exc.start} "
                                    f"(0x{raw[exc.start]:02X}) {exc.reason}")]) from None


def loads(text: str | bytes):
    """Parse JSON text (UTF-8 when bytes); numbers with a fraction stay exact (Decimal) so the schema
    can refuse them; repeated keys are marked for ``problems`` (rule ``duplicate-key``)."""
    text = decode(text)
    try:
        return json.loads(text, parse_float=Decimal, object_pairs_hook=_object)
    except (ValueError, RecursionError) as exc:
        raise OrderInvalid([Problem("$", "json", f"not valid JSON: {exc}")]) from None


def _escaped(text: str) -> str:
    """Text safe to show in a path or message: characters XML cannot carry as \\uXXXX."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _key_path(path: str, key: str) -> str:
    return f"{path}.{_escaped(key)}"


def _string_problems(path: str, key: str | None, value: str, free_text: bool) -> list[Problem]:
    bad = _NOT_XML.search(value)
    if bad:
        return [Problem(path, "xml-char", f"U+{ord(bad.group()):04X} at position {bad.start()} cannot be carried "
                                          f"in XML 1.0 (control, surrogate or non-character)")]
    if free_text or key in FREE_TEXT:
        return []
    bad = _CONTROL.search(value)
    if bad:
        return [Problem(path, "control-char", f"U+{ord(bad.group()):04X} at position {bad.start()}: identifiers, "
                                              f"codes and names hold no control characters (CR, LF, TAB included)")]
    if value and value.isspace():
        return [Problem(path, "blank", "is blank (whitespace only)")]
    if value != value.strip():
        return [Problem(path, "whitespace", f"{value!r} has leading or trailing whitespace")]
    return []


def _clean(data, free_text: bool) -> bool:
    """Whether ``data`` certainly has no text problem: the walk of ``problems`` without building a path per
    value (this runs for every order, which nearly always has none), and one regular-expression search over
    all its strings at once. False when anything is doubtful (a problem, a dict or list subclass such as an
    object with repeated keys): ``problems`` then walks it again and names every problem."""
    texts: list[str] = []       # every string and field name: xml-char
    strict: list[str] = []      # the strings of identifiers, codes and names: control-char, blank, whitespace
    # (container, the field name its strings count under, its depth); the value itself sits in a list
    stack: list[tuple[dict | list, str | None, int]] = [([data], None, -1)]
    pop, push, add, add_strict = stack.pop, stack.append, texts.append, strict.append
    while stack:
        container, key, depth = pop()
        if depth >= MAX_DEPTH:
            return False
        depth += 1
        pairs: Iterable[tuple[Any, Any]]
        if container.__class__ is dict:
            texts.extend(container)
            pairs = container.items()
        else:
            pairs = ((key, v) for v in container)      # the items of a list count under its field name
        for k, v in pairs:
            cls = v.__class__
            if cls is str:
                add(v)
                if not free_text and k not in FREE_TEXT:
                    add_strict(v)
            elif cls is dict or cls is list:
                push((v, k, depth))
            elif isinstance(v, (str, dict, list)):
                return False
    # every character _NOT_XML or _CONTROL matches is unprintable (Cc, Cs, Cn): isprintable, far faster than the
    # searches, clears most orders (a no-break or ideographic space, a line break leave it to the searches)
    everything, identifiers = "".join(texts), "".join(strict)
    if not everything.isprintable() and (_NOT_XML.search(everything) or _CONTROL.search(identifiers)):
        return False
    return all(v == v.strip() for v in strict)      # neither blank nor surrounded by whitespace


def problems(data, *, free_text: bool = False) -> list[Problem]:
    """Every text problem of a parsed JSON value (iterative: no recursion on deep input).
    ``free_text``: every string is free text (raw texts kept as given: only ``xml-char`` applies)."""
    if _clean(data, free_text):
        return []
    found: list[Problem] = []
    stack: list[tuple[str, str | None, object, int]] = [("$", None, data, 0)]
    while stack:
        path, key, value, depth = stack.pop()
        if isinstance(value, str):
            found += _string_problems(path, key, value, free_text)
        elif isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                found.append(Problem(path, "depth", f"nested deeper than {MAX_DEPTH} levels"))
                continue
            if isinstance(value, list):
                # the items of a list of free text (spec_elements) are free text too
                stack.extend((f"{path}[{i}]", key, v, depth + 1) for i, v in reversed(list(enumerate(value))))
                continue
            for k in getattr(value, "duplicate_keys", ()):
                found.append(Problem(_key_path(path, k), "duplicate-key", f"the key {_escaped(k)!r} appears more "
                                                                          "than once in this object"))
            children = []
            for k, v in value.items():
                if _NOT_XML.search(k):
                    found.append(Problem(_key_path(path, k), "xml-char", "the field name holds a character XML 1.0 "
                                                                         "cannot carry"))
                else:
                    children.append((_key_path(path, k), k, v, depth + 1))
            stack.extend(reversed(children))
    return found


def check(data, *, free_text: bool = False) -> None:
    """Raise OrderInvalid with every text problem of ``data``."""
    found = problems(data, free_text=free_text)
    if found:
        raise OrderInvalid(found)


def fullmatch_pattern(validator, pattern: str, instance, schema):
    """JSON Schema ``pattern`` matching the WHOLE value (``re.fullmatch``): ``^…$`` in the schemas
    means the whole string — Python's ``$`` would also match before a final newline."""
    if isinstance(instance, str) and not re.fullmatch(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")
