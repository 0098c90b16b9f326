"""Rows to orders and back. A file is a header row, then one row per goods line; consecutive rows with
the same order number (``order_no``, general trade ``client_ref``) are one order, whose order columns
are read from its first row (later rows leave them blank or repeat them). Every problem names the row
(as numbered in the file) and the column (its key, its header as written, its letter)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..problems import Problem
from .cells import CellError, convert, is_blank, number_text, to_cell
from .columns import LINES, Column, all_columns, columns, order_key_columns


@dataclass(frozen=True)
class CellProblem:
    row: int | None           # the file's row number (the header is row 1); None: the file as a whole
    column: str | None        # the column's key ("lines.unit_price"); None: the row as a whole
    header: str | None        # the header as written in the file (None: the column is not in the file)
    letter: str | None        # spreadsheet column letter ("F"), when the column is in the file
    rule: str
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "header": self.header, "letter": self.letter,
                "rule": self.rule, "message": self.message}

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        if self.column:
            where += f", column {self.letter or '-'} ({self.header or self.column})"
        return f"{where}: [{self.rule}] {self.message}"


class HeaderInvalid(ValueError):
    def __init__(self, problems: list[CellProblem]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    text = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        text = chr(65 + rest) + text
    return text


@dataclass(frozen=True)
class Header:
    """The file's header row resolved: which column each position holds."""
    columns: tuple[Column | None, ...]        # None: an empty header cell (its cells must stay empty)
    written: tuple[str, ...]

    def position(self, key: str) -> int | None:
        for i, c in enumerate(self.columns):
            if c is not None and c.key == key:
                return i
        return None

    def where(self, row: int | None, key: str | None, rule: str, message: str) -> CellProblem:
        i = self.position(key) if key else None
        return CellProblem(row, key, self.written[i] if i is not None else None,
                           letter(i) if i is not None else None, rule, message)


def read_header(cells: Iterable) -> Header:
    """English keys or Chinese labels (or both, "订单编号 order_no"); unknown or repeated headers refuse the file."""
    known = all_columns()
    found: list[Column | None] = []
    written: list[str] = []
    problems: list[CellProblem] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(cells):
        text = "" if raw is None else str(raw).strip()
        written.append(text)
        if not text:
            found.append(None)
            continue
        column = known.get(text) or next((known[w] for w in text.split() if w in known), None)
        if column is None:
            problems.append(CellProblem(1, None, text, letter(i), "unknown-column",
                                        f"{text!r} is not a column of any order format (docs/bulk-files.md)"))
        elif column.key in seen:
            problems.append(CellProblem(1, column.key, text, letter(i), "repeated-column",
                                        f"{column.key} is also column {letter(seen[column.key])}"))
        else:
            seen[column.key] = i
        found.append(column)
    if not any(k in seen for k in order_key_columns()) and not problems:
        problems.append(CellProblem(1, "order_no", None, None, "required-column",
                                    "a file needs an order_no (订单编号) or client_ref (客户编号) column"))
    if problems:
        raise HeaderInvalid(problems)
    return Header(tuple(found), tuple(written))


@dataclass
class Group:
    """One order's rows: the order JSON built from them (``data``) or the problems that stopped it."""
    key: str | None
    rows: list[int] = field(default_factory=list)             # file row numbers, one per goods line
    data: dict = field(default_factory=dict)
    problems: list[CellProblem] = field(default_factory=list)


def _put(target: dict, path: tuple[str, ...], value) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def _get(source: dict, path: tuple[str, ...]):
    for part in path:
        if not isinstance(source, dict) or part not in source:
            return None
        source = source[part]
    return source


def group_rows(header: Header, rows: Iterable[tuple[int, list]]) -> Iterator[Group]:
    """Stream orders out of ``(row number, cells)``: each order is yielded once its last row is read."""
    key_positions = [p for p in (header.position(k) for k in order_key_columns()) if p is not None]
    current: Group | None = None
    first_cells: dict[int, object] = {}
    done: set[str] = set()
    for number, cells in rows:
        if all(is_blank(v) for v in cells):
            continue
        at = next((p for p in key_positions if p < len(cells) and not is_blank(cells[p])), None)
        key = to_key(cells[at]) if at is not None else None
        if current is not None and (key is None or key == current.key):
            _add_line(header, current, number, cells, first_cells)
            continue
        if current is not None:
            yield current
        current = Group(key)
        first_cells = {}
        if key is None:
            current.problems.append(header.where(number, "order_no", "required",
                                                 "the first row of an order needs its order number"))
        elif key in done:
            key_column = header.columns[at] if at is not None else None
            current.problems.append(header.where(number, key_column.key if key_column else None, "duplicate-in-file",
                                                 f"order {key} appears again in this file (rows of one order "
                                                 "are consecutive)"))
        else:
            done.add(key)
        _add_order(header, current, number, cells, first_cells)
        _add_line(header, current, number, cells, first_cells)
    if current is not None:
        yield current


def to_key(value) -> str:
    return value.strip() if isinstance(value, str) else number_text(value) if isinstance(value, (int, float)) \
        else str(value)


def _add_order(header: Header, group: Group, number: int, cells: list, first: dict) -> None:
    for i, column in enumerate(header.columns):
        value = cells[i] if i < len(cells) else None
        if column is None or column.line or is_blank(value):
            continue
        first[i] = value
        try:
            _put(group.data, column.path, convert(column, value))
        except CellError as exc:
            group.problems.append(header.where(number, column.key, exc.rule, str(exc)))


def _add_line(header: Header, group: Group, number: int, cells: list, first: dict) -> None:
    line: dict = {}
    for i, raw in enumerate(header.columns):
        value = cells[i] if i < len(cells) else None
        if is_blank(value):
            continue
        if raw is None:
            group.problems.append(CellProblem(number, None, None, letter(i), "unknown-column",
                                              "a value under an empty header"))
            continue
        if not raw.line:
            if group.rows and i in first and value != first[i]:
                group.problems.append(header.where(number, raw.key, "order-columns-differ",
                                                   f"differs from row {group.rows[0]} of the same order "
                                                   f"({value!r} vs {first[i]!r}); leave it blank or repeat it"))
            continue
        try:
            _put(line, raw.path, convert(raw, value))
        except CellError as exc:
            group.problems.append(header.where(number, raw.key, exc.rule, str(exc)))
    for i in range(len(header.columns), len(cells)):      # a value right of the last header
        if not is_blank(cells[i]):
            group.problems.append(CellProblem(number, None, None, letter(i), "unknown-column",
                                              "a value right of the last header"))
    group.rows.append(number)
    group.data.setdefault(LINES, []).append(line)


_PATH = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def locate(header: Header, group: Group, problem: Problem) -> CellProblem:
    """A problem of the order's JSON (``$.lines[1].total_price``) as the cell it came from."""
    parts: list[str | int] = [int(i) if i else name for name, i in _PATH.findall(problem.path)]
    row = group.rows[0] if group.rows else None
    if len(parts) >= 2 and parts[0] == LINES and isinstance(parts[1], int):
        if parts[1] < len(group.rows):
            row = group.rows[parts[1]]
        parts = [LINES, *parts[2:]]
    names = [p for p in parts if isinstance(p, str)]
    while names:                                 # the deepest column holding the path
        key = ".".join(names)
        column = all_columns().get(key)
        if column is not None and column.key == key:
            return header.where(row, key, problem.rule, problem.message)
        if len(names) == 1 or (names[0] == LINES and len(names) == 2):
            break
        names.pop()
    return CellProblem(row, None, None, None, problem.rule, f"{problem.path}: {problem.message}")


def order_rows(fmt: str, order: dict) -> list[dict[str, str | int | bool]]:
    """An order JSON as rows (column key → cell): a template filled in, a round trip's first half."""
    order_part = {c.key: to_cell(c, v) for c in columns(fmt) if not c.line
                  for v in [_get(order, c.path)] if v is not None}
    out = []
    for line in order.get(LINES, []):
        row = dict(order_part)             # the order's columns repeated on every line's row
        row.update({c.key: to_cell(c, v) for c in columns(fmt) if c.line for v in [_get(line, c.path)] if v is not None})
        out.append(row)
    return out
