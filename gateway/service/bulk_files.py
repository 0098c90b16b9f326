"""The sheets the gateway writes (docs/bulk-files.md): a format's template, generated from its column
mapping (gateway.domain.sheets.columns), and a result sheet: the input's rows with each row's status,
order id and problems beside them."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

from gateway.adapters.sheets import read_table, write_table
from gateway.domain.sheets.columns import FORMATS, TEXT, Column, columns
from gateway.domain.sheets.rows import order_rows

from .bulk import KINDS, FileResult, RowResult

HEADERS = ("both", "zh", "en")
RESULT_COLUMNS = ("status", "order_id", "problems")


def header_text(column: Column, headers: str = "both") -> str:
    """A template's header: the Chinese label, the English key, or both ("订单编号 order_no"); all are read back."""
    if headers == "zh":
        return column.label
    if headers == "en":
        return column.key
    return f"{column.label} {column.key}"


def write_template(fmt: str, kind: str, out: IO[bytes], headers: str = "both", orders: Iterable[dict] = ()) -> None:
    """The template of one format (``FORMATS``) as XLSX or CSV; ``orders`` fill it (examples, tests)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    cols = columns(fmt)
    rows = ([row.get(c.key) for c in cols] for order in orders for row in order_rows(fmt, order))
    write_table(kind, out, [header_text(c, headers) for c in cols], rows,
                text_columns=[i for i, c in enumerate(cols) if c.kind == TEXT])


def _problem_text(row: RowResult) -> str:
    return "; ".join(str(p) for p in row.problems)


def write_result(result: FileResult, source: IO[bytes] | None, kind: str, out: IO[bytes]) -> None:
    """The result sheet (XLSX or CSV). A sheet's rows are read again from ``source`` (streamed) and
    written with ``status``, ``order_id`` and ``problems`` after their own cells; for JSON input,
    one row per order."""
    by_row: dict[int, RowResult] = {}
    for r in result.rows:
        by_row.setdefault(r.row, r)
    if result.kind in KINDS and result.kind not in ("json", "jsonl") and source is not None:
        table = read_table(result.kind, source)
        width = len(table.header)

        def rows() -> Iterator[list]:
            for number, cells in table.rows:
                r = by_row.get(number)
                padded = list(cells) + [None] * (width - len(cells))
                yield padded + ([r.status, r.order_id, _problem_text(r)] if r else [None, None, None])

        write_table(kind, out, [*("" if h is None else str(h) for h in table.header), *RESULT_COLUMNS], rows())
        return
    write_table(kind, out, ["row", "order_no", *RESULT_COLUMNS],
                ([r.row, r.order_no, r.status, r.order_id, _problem_text(r)] for r in result.rows))
