"""Loading the CSV files of ``gateway/reference/data`` once, and "as of date D" lookups.

File format: UTF-8 CSV; lines starting with ``#`` are comments (each file explains its source and
confidence there); then one header line. Validity columns: ``valid_from`` (inclusive, ISO date) and
``valid_to`` (EXCLUSIVE: the first day the row no longer applies; empty = still in force). Rows of one
code must not overlap (checked at load time).
"""
from __future__ import annotations

import csv
import hashlib
import io
import threading
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from itertools import pairwise

DATA_PACKAGE = "gateway.reference.data"


class ReferenceDataError(LookupError):
    """A reference-data lookup failed; ``str()`` says which table, code and date."""

    def __init__(self, table: str, code: str, on: date | None, message: str):
        self.table, self.code, self.on = table, code, on
        super().__init__(message)

    def __str__(self) -> str:  # LookupError would print the repr of its argument
        return str(self.args[0])


class UnknownCode(ReferenceDataError):
    """The code is not in the table at all."""


class NotInForce(ReferenceDataError):
    """The code is in the table but no row of it is in force on the date asked for.
    ``windows`` lists the (valid_from, valid_to) periods that do exist."""

    def __init__(self, table: str, code: str, on: date, windows: list[tuple[date, date | None]]):
        self.windows = windows
        spans = ", ".join(f"{f.isoformat()} to {t.isoformat() + ' (exclusive)' if t else 'now'}" for f, t in windows)
        super().__init__(table, code, on, f"{table}: {code} is not in force on {on.isoformat()} (in force: {spans})")


def as_date(value: date | datetime | str | None) -> date:
    """A date from a date, a datetime (its own calendar date, as given) or an ISO string; None = today."""
    if value is None:
        return date.today()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None
    raise TypeError(f"expected a date, got {type(value).__name__}")


def read_text(filename: str) -> str:
    return resources.files(DATA_PACKAGE).joinpath(filename).read_text("utf-8")


def read_rows(filename: str) -> list[dict[str, str]]:
    """The rows of a data file as dicts (comment lines skipped, cells stripped)."""
    text = "".join(line for line in io.StringIO(read_text(filename)) if not line.startswith("#"))
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        if None in row:
            raise ValueError(f"{filename}: row {row} has more cells than the header")
        rows.append({k: (v or "").strip() for k, v in row.items()})
    return rows


@dataclass(frozen=True)
class Dated:
    """One row of a dated table: its cells and its validity."""

    cells: dict
    valid_from: date
    valid_to: date | None

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on < self.valid_to)


class DatedTable:
    """Rows of one data file indexed by a key column; every row carries valid_from / valid_to."""

    def __init__(self, name: str, filename: str, key: str | tuple[str, ...]):
        self.name, self.filename = name, filename
        self._key = (key,) if isinstance(key, str) else key
        self._index: dict[str, list[Dated]] = {}
        for row in read_rows(filename):
            dated = Dated(row, date.fromisoformat(row["valid_from"]),
                          date.fromisoformat(row["valid_to"]) if row.get("valid_to") else None)
            if dated.valid_to is not None and dated.valid_to <= dated.valid_from:
                raise ValueError(f"{filename}: {self._key_of(row)} ends before it starts")
            for k in self._key:
                if row[k]:
                    self._index.setdefault(self._norm(row[k]), []).append(dated)
        for code, versions in self._index.items():
            versions.sort(key=lambda d: d.valid_from)
            for a, b in pairwise(versions):
                if a.valid_to is None or a.valid_to > b.valid_from:
                    if a.cells is not b.cells:
                        raise ValueError(f"{filename}: rows of {code} overlap ({a.valid_from} and {b.valid_from})")

    @staticmethod
    def _norm(code: str) -> str:
        return code.strip().upper()

    def _key_of(self, row: dict) -> str:
        return "/".join(row[k] for k in self._key)

    def versions(self, code: str) -> list[Dated]:
        """Every row of ``code``, oldest first; [] when unknown."""
        return list(self._index.get(self._norm(str(code)), ()))

    def codes(self) -> list[str]:
        return sorted(self._index)

    def get(self, code: str, on: date) -> Dated:
        versions = self._index.get(self._norm(str(code)))
        if not versions:
            raise UnknownCode(self.name, str(code), on, f"{self.name}: unknown code {code!r}")
        for dated in versions:
            if dated.in_force(on):
                return dated
        raise NotInForce(self.name, str(code), on, [(d.valid_from, d.valid_to) for d in versions])

    def in_force(self, on: date) -> list[Dated]:
        seen, out = set(), []
        for versions in self._index.values():
            for d in versions:
                if d.in_force(on) and id(d) not in seen:
                    seen.add(id(d))
                    out.append(d)
        return out


_lock = threading.RLock()   # re-entrant: a table builder may use another table


def once(builder):
    """Decorator: build a table on first use, once per process, thread-safe."""
    cached = lru_cache(maxsize=1)(builder)

    def get():
        with _lock:
            return cached()

    get.cache_clear = cached.cache_clear
    get.__doc__ = builder.__doc__
    return get


_VERSION: str | None = None


def version() -> str:
    """Short fingerprint of every shipped data file (sha256 over names and bytes), recorded with each
    tax/FX result so a replay can tell whether it runs on the same reference data."""
    global _VERSION
    if _VERSION is None:
        h = hashlib.sha256()
        folder = resources.files(DATA_PACKAGE)
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.name.endswith(".csv"):
                h.update(entry.name.encode() + b"\0" + entry.read_bytes())
        _VERSION = h.hexdigest()[:16]
    return _VERSION
