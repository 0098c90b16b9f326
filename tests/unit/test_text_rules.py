"""The generic text pass (gateway.domain.text_rules) and the plausible date window
(gateway.domain.date_window): pure, no I/O."""
from datetime import UTC, date, datetime

import pytest

from gateway.domain import date_window, text_rules
from gateway.domain.cbec_import.intake import SCHEMA
from gateway.domain.parse import parse_order as parse_any
from gateway.domain.problems import OrderInvalid
from tests.helpers import fixture_json


def found(data, **kw):
    return [(p.path, p.rule) for p in text_rules.problems(data, **kw)]


def test_duplicate_keys_are_found_at_any_depth_with_their_path():
    data = text_rules.loads('{"a": 1, "b": {"c": 1, "c": 2}, "l": [{"x": 1, "x": 1, "x": 3}], "a": 2}')
    assert data["a"] == 2 and data["b"]["c"] == 2                     # the last value, as json does
    assert sorted(found(data)) == [("$.a", "duplicate-key"), ("$.b.c", "duplicate-key"), ("$.l[0].x", "duplicate-key")]


def test_field_names_xml_cannot_carry_are_reported_escaped():
    data = text_rules.loads('{"a\\u0000b": 1, "\\ud800": 2}')
    problems = text_rules.problems(data)
    assert [p.rule for p in problems] == ["xml-char", "xml-char"]
    assert [p.path for p in problems] == ["$.a\\u0000b", "$.\\ud800"]
    assert all(text_rules.problems({"k": p.path + p.message}) == [] for p in problems)   # safe to show


def test_free_text_keeps_line_breaks_and_tabs_identifiers_do_not():
    assert found({"note": "a\n\tb", "spec_elements": ["x\ny"]}) == []
    assert found({"name": "a\nb"}) == [("$.name", "control-char")]
    assert found({"x": "a\nb"}, free_text=True) == []
    assert found({"x": "a\x00b"}, free_text=True) == [("$.x", "xml-char")]


@pytest.mark.parametrize("value, rule", [(" a", "whitespace"), ("a ", "whitespace"), ("\u3000", "blank"),
                                         ("  ", "blank"), ("a b", None), ("", None)])
def test_surrounding_whitespace_and_blank_values(value, rule):
    assert found({"code": value}) == ([("$.code", rule)] if rule else [])


def test_nesting_is_bounded_without_recursion():
    deep = text_rules.loads("[" * 500 + "]" * 500)
    assert found(deep) == [("$" + "[0]" * text_rules.MAX_DEPTH, "depth")]


def test_every_xml_character_class_is_told_apart():
    ok = "中文 English ½ € 😀 \U0010fffd \ue000"
    assert found({"name": ok}) == []
    for bad in ("\x00", "\x0b", "\x0c", "\x7f", "\x9f", "\ud800", "\udc00", "\ufdd0", "\ufdef", "\ufffe",
                "\U0010ffff", "\U0005fffe"):
        assert found({"note": f"x{bad}"}) == [("$.note", "xml-char")], repr(bad)


def test_schema_patterns_match_the_whole_value():
    data = fixture_json("1210-single-line.json")
    data["goods_value"] = "398.00\n"
    data["customs_code"] = "5141\n"
    assert {(p.path, p.rule) for p in SCHEMA.problems(data)} == {("$.goods_value", "schema:pattern"),
                                                                 ("$.customs_code", "schema:pattern")}


def test_the_date_window_is_configurable_and_follows_the_later_clock():
    data = {"ordered_at": "2001-05-01T00:00:00+08:00", "payment": {"paid_at": "2030-01-01T00:00:00"}}
    now = datetime(2029, 12, 31, tzinfo=UTC)
    assert date_window.problems(data, date_window.DateWindow(), now) == []
    strict = date_window.DateWindow(earliest=date(2010, 1, 1), ahead_days=0)
    assert [(p.path, p.rule) for p in date_window.problems(data, strict, now)] == [
        ("$.ordered_at", "date-window"), ("$.payment.paid_at", "date-window")]


def test_parse_any_refuses_before_any_format_is_read():
    data = fixture_json("1210-single-line.json")
    data["ordered_at"] = "9999-12-31T23:59:59-05:00"
    with pytest.raises(OrderInvalid) as exc:
        parse_any(data)
    assert [(p.path, p.rule) for p in exc.value.problems] == [("$.ordered_at", "date-window")]


def test_every_character_the_rules_refuse_is_unprintable():
    """``problems`` clears an order whose strings are all printable without searching them (``_clean``):
    that holds only while every character ``_NOT_XML`` or ``_CONTROL`` matches is unprintable."""
    everything = "".join(map(chr, range(0x110000)))
    refused = set(text_rules._NOT_XML.findall(everything)) | set(text_rules._CONTROL.findall(everything))
    assert refused and not [f"U+{ord(c):04X}" for c in refused if c.isprintable()]


def test_the_fast_walk_and_the_full_walk_agree():
    cases = [{"a": "ok", "note": "line\nbreak"}, {"a": " lead"}, {"a": "tab\there"}, {"a": "\u00a0"},
             {"a": ["x", {"b": "\x0b"}]}, {"k\x01": "v"}, {"note": ["free\ttext"]}, {"a": "中文 ok"},
             {"spec_elements": ["a\nb"]}, {"a": "\ufffe"}, {"a": "  "}, {"a": ""}, "top\n", ["x "]]
    for data in cases:
        assert text_rules._clean(data, False) == (text_rules.problems(data) == []), data
        assert text_rules._clean(data, True) == (text_rules.problems(data, free_text=True) == []), data
