"""Spreadsheet files in and out (docs/bulk-files.md): XLSX through openpyxl in streaming mode (read-only
to read, write-only to write), CSV in UTF-8 (a BOM is accepted, as Excel's "CSV UTF-8" writes it).
Rows come out as ``(row number, cells)`` one at a time; nothing here knows orders (gateway.domain.sheets)."""
from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils.exceptions import InvalidFileException

SHEET_KINDS = ("xlsx", "csv")
# what openpyxl raises on a damaged or hostile workbook (lxml's and ElementTree's parse errors are SyntaxErrors)
BROKEN_XLSX = (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, SyntaxError,
               IndexError, AttributeError)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


class FileUnreadable(ValueError):
    """The file is not what its name says (not an XLSX workbook, not UTF-8 CSV)."""


@dataclass
class Table:
    header: list                                  # the first row's cells
    rows: Iterator[tuple[int, list]]              # (row number, cells) from row 2 on
    total: int | None                             # data rows, when the file says so cheaply (else None)


def kind_of(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


def read_table(kind: str, stream: IO[bytes]) -> Table:
    """The rows of the first sheet of an XLSX workbook or of a CSV file (``stream`` binary, seekable for XLSX)."""
    if kind == "xlsx":
        return _read_xlsx(stream)
    if kind == "csv":
        return _read_csv(stream)
    raise FileUnreadable(f"not a spreadsheet kind: {kind!r} (xlsx or csv)")


def _read_xlsx(stream: IO[bytes]) -> Table:
    try:
        # read_only streams the sheet's XML; data_only=False so a formula reads as its text ("=...")
        book = load_workbook(stream, read_only=True, data_only=False)
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = list(next(rows, ()) or ())
        total = sheet.max_row - 1 if sheet.max_row else None   # from the sheet's <dimension>, when written
    except BROKEN_XLSX as exc:
        raise FileUnreadable(f"not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None

    def numbered() -> Iterator[tuple[int, list]]:
        number = 1
        try:
            for number, cells in enumerate(rows, start=2):
                yield number, list(cells)
        except BROKEN_XLSX as exc:
            raise FileUnreadable(f"row {number + 1}: the workbook is damaged ({type(exc).__name__}: {exc})") from None
        finally:
            book.close()

    return Table(header, numbered(), total)


def _read_csv(stream: IO[bytes]) -> Table:
    total = None
    if stream.seekable():                        # one cheap pass to count records for the progress bar
        start = stream.tell()
        counting = io.TextIOWrapper(stream, "utf-8-sig", newline="")
        try:
            total = max(0, sum(1 for _ in csv.reader(counting)) - 1)
        except (UnicodeDecodeError, csv.Error):
            total = None
        finally:
            counting.detach()                    # leave the caller's stream open
            stream.seek(start)
    text = io.TextIOWrapper(stream, "utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader, [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise FileUnreadable(f"not a UTF-8 CSV file ({exc}); save it as \"CSV UTF-8\"") from None

    def numbered() -> Iterator[tuple[int, list]]:
        try:
            for cells in reader:
                yield reader.line_num, list(cells)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise FileUnreadable(f"line {reader.line_num + 1}: not UTF-8 CSV ({exc})") from None
        finally:
            text.detach()

    return Table(header, numbered(), total)


def write_table(kind: str, out: IO[bytes], header: list[str], rows: Iterable[list], *,
                title: str = "orders", text_columns: Iterable[int] = ()) -> None:
    """Write a header and rows as XLSX or CSV (UTF-8 with BOM, for Excel).
    ``text_columns``: positions formatted as text in XLSX, so codes keep their leading zeros."""
    if kind == "csv":
        text = io.TextIOWrapper(out, "utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
        text.flush()
        text.detach()
        return
    if kind != "xlsx":
        raise FileUnreadable(f"not a spreadsheet kind: {kind!r} (xlsx or csv)")
    # a normal workbook, not write-only: openpyxl's write-only mode writes inline strings and no
    # <dimension>, which Excel reads but which make reading back slow and leave the row count unknown
    book = Workbook()
    sheet = book.active
    sheet.title = title
    sheet.append(header)
    for cell in sheet[1]:
        cell.font, cell.fill = Font(bold=True), HEADER_FILL
    text_at = set(text_columns)
    for number, row in enumerate(rows, start=2):
        sheet.append(row)
        for i in text_at:
            cell = sheet.cell(number, i + 1)
            if isinstance(cell.value, str):
                cell.number_format = "@"
    book.save(out)
