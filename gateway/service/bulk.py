"""Bulk files (docs/bulk-files.md): an XLSX or CSV sheet (one row per goods line), a JSON array or JSON
Lines, read as a stream and filed through the one intake: ``orders.submit_batch``, so the schema, the
tenant's rules, enterprise codes and annual limits apply exactly as for JSON. Orders are stored in
chunks (one transaction per ``CHUNK`` orders); each row's result names its order and, for a refused
one, every problem by row and column."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from gateway.adapters.sheets import SHEET_KINDS, FileUnreadable, kind_of, read_table
from gateway.domain.common.schema import loads
from gateway.domain.problems import OrderInvalid
from gateway.domain.sheets.rows import CellProblem, Group, Header, HeaderInvalid, group_rows, locate, read_header

from .declare import FilingInvalid
from .orders import OrderConflict

CHUNK = 50             # orders per transaction (and per progress report)
KINDS = (*SHEET_KINDS, "json", "jsonl")
ACCEPTED, EXISTING, REFUSED = "accepted", "existing", "refused"
HELD = "held"     # stored, not signed or sent: a customs rule it breaks (docs/tax-fx.md "Held orders")

Progress = Callable[[int, "int | None"], None]


class BadFile(ValueError):
    """The file as a whole cannot be read (its kind, its encoding, its header row): nothing was filed.
    ``problems`` name the cells (the header's) where they can."""

    def __init__(self, message: str, problems: list[CellProblem] | None = None):
        super().__init__(message)
        self.problems = problems or []


@dataclass
class RowResult:
    row: int                               # the file's row (sheets: header is row 1; JSON Lines: line; JSON: item, from 1)
    order_no: str | None
    status: str                            # accepted | held | existing (filed before: same body) | refused
    order_id: str | None = None
    problems: list[CellProblem] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"row": self.row, "order_no": self.order_no, "status": self.status, "order_id": self.order_id,
                "problems": [p.as_dict() for p in self.problems]}


@dataclass
class FileResult:
    filename: str
    kind: str
    rows: list[RowResult] = field(default_factory=list)
    accepted_order_ids: list[str] = field(default_factory=list)    # new and earlier identical submissions
    statuses: list[str] = field(default_factory=list)              # one per order of the file, in file order

    @property
    def counts(self) -> dict[str, int]:
        return {"rows": len(self.rows), "orders": len(self.statuses),
                **{s: self.statuses.count(s) for s in (ACCEPTED, HELD, EXISTING, REFUSED)}}

    def as_dict(self) -> dict:
        return {"filename": self.filename, "kind": self.kind, "counts": self.counts,
                "accepted_order_ids": self.accepted_order_ids, "rows": [r.as_dict() for r in self.rows]}


@dataclass
class _Pending:
    group: Group
    header: Header | None


def submit_file(gateway, tenant_id: str, filename: str, stream: IO[bytes], progress: Progress | None = None,
                chunk: int = CHUNK) -> FileResult:
    """File every order of one file for a tenant. ``progress(done_rows, total_rows)`` is called as rows
    are filed (``total_rows`` None when the file does not say). Raises BadFile (nothing filed) when the
    file cannot be read; a tenant unknown: orders.NotFound."""
    kind = kind_of(filename)
    if kind not in KINDS:
        raise BadFile(f"{filename}: a bulk file is .xlsx, .csv, .json or .jsonl")
    result = FileResult(filename, kind)
    header, groups, total = _groups(kind, stream)
    done = 0
    batch: list[_Pending] = []
    try:
        for group in groups:
            batch.append(_Pending(group, header))
            if len(batch) >= chunk:
                done += _file(gateway, tenant_id, batch, result)
                batch = []
                if progress:
                    progress(done, total)
        if batch:
            done += _file(gateway, tenant_id, batch, result)
    except FileUnreadable as exc:      # mid-file (bad bytes, a damaged sheet): the whole orders before it are
        if batch:                      # filed; the order being read when it broke is not, and the result says so
            done += _file(gateway, tenant_id, batch, result)
        result.statuses.append(REFUSED)
        result.rows.append(RowResult(done + 2, None, REFUSED, problems=[CellProblem(None, None, None, None,
                                                                                   "unreadable", str(exc))]))
    if progress:
        progress(done, total if total is not None else done)
    return result


def _groups(kind: str, stream: IO[bytes]) -> tuple[Header | None, Iterator[Group], int | None]:
    if kind == "json":
        return None, _json_groups(stream), None
    if kind == "jsonl":
        return None, _jsonl_groups(stream), None
    try:
        table = read_table(kind, stream)
        header = read_header(table.header)
    except FileUnreadable as exc:
        raise BadFile(str(exc)) from None
    except HeaderInvalid as exc:
        raise BadFile(f"the header row is not usable ({len(exc.problems)} problem(s))", exc.problems) from None
    return header, group_rows(header, table.rows), table.total


def _json_groups(stream: IO[bytes]) -> Iterator[Group]:
    try:
        data = loads(stream.read())          # the API's JSON reading: UTF-8, exact numbers, repeated keys marked
    except OrderInvalid as exc:
        raise BadFile(str(exc)) from None
    items = data if isinstance(data, list) else [data]
    for i, item in enumerate(items, start=1):
        yield _json_group(i, item)


def _jsonl_groups(stream: IO[bytes]) -> Iterator[Group]:
    for number, line in enumerate(stream, start=1):       # bytes, line by line
        if not line.strip():
            continue
        try:
            item = loads(line)
        except OrderInvalid as exc:
            group = Group(None, [number])
            group.problems += [CellProblem(number, p.path, None, None, p.rule, p.message) for p in exc.problems]
            yield group
            continue
        yield _json_group(number, item)


def _json_group(number: int, item) -> Group:
    if not isinstance(item, dict):
        group = Group(None, [number])
        group.problems.append(CellProblem(number, None, None, None, "schema:type", "an order is a JSON object"))
        return group
    key = item.get("order_no") or item.get("client_ref")
    return Group(str(key) if key is not None else None, [number], item)


def _file(gateway, tenant_id: str, batch: list[_Pending], result: FileResult) -> int:
    """One chunk: the groups without cell problems go to submit_batch (one transaction); each row gets its result."""
    ready = [p for p in batch if not p.group.problems]
    # the JSON batch's path: the tenant's key, channel and order-date window (gateway.bootstrap.Gateway)
    items = gateway.submit_batch(tenant_id, [p.group.data for p in ready]) if ready else []
    outcome = {id(p): item for p, item in zip(ready, items, strict=True)}
    rows = 0
    for p in batch:
        group, item = p.group, outcome.get(id(p))
        problems = list(group.problems)
        order_id, status = None, REFUSED
        if item is not None and isinstance(item.error, (OrderInvalid, FilingInvalid)):
            problems += [_where(p, problem) for problem in item.error.problems]
        elif item is not None and isinstance(item.error, OrderConflict):
            problems.append(_conflict(p, str(item.error)))
        elif item is not None and item.submitted is not None:
            order_id = item.submitted.order_id
            status = EXISTING if not item.submitted.created else HELD if item.submitted.held else ACCEPTED
            result.accepted_order_ids.append(order_id)
        result.statuses.append(status)
        if not group.rows:      # cannot happen for a sheet or JSON group; kept whole if it did
            result.rows.append(RowResult(0, group.key, status, order_id, problems))
        for number in group.rows:
            mine = [q for q in problems if q.row == number or (q.row is None and number == group.rows[0])]
            result.rows.append(RowResult(number, group.key, status, order_id, mine))
        rows += len(group.rows)
    return rows


def _where(p: _Pending, problem) -> CellProblem:
    if p.header is None:      # JSON: the item's row, the problem's JSON path as its column
        row = p.group.rows[0]
        return CellProblem(row, problem.path, None, None, problem.rule, problem.message)
    return locate(p.header, p.group, problem)


def _conflict(p: _Pending, message: str) -> CellProblem:
    row = p.group.rows[0] if p.group.rows else None
    if p.header is None:
        return CellProblem(row, None, None, None, "conflict", message)
    key = "client_ref" if p.header.position("client_ref") is not None and p.header.position("order_no") is None \
        else "order_no"
    return p.header.where(row, key, "conflict", message)
