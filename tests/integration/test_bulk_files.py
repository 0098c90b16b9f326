"""Bulk files (docs/bulk-files.md): XLSX and CSV templates filled from the fixtures round-trip to the
same order JSON; files are filed through the one intake (the API's upload and ``gateway submit``) with
each problem named by row and column; a 500-line XLSX is stored in chunks (rows counted in the database)."""
from __future__ import annotations

import copy
import csv
import io
import json
import time
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from gateway.adapters.sheets import read_table
from gateway.api import create_app
from gateway.cli import main
from gateway.domain.sheets.cells import number_text
from gateway.domain.sheets.columns import FORMATS, columns
from gateway.domain.sheets.rows import group_rows, read_header
from gateway.service.bulk import BadFile, submit_file
from gateway.service.bulk_files import header_text, write_template
from gateway.store import models as m
from tests.helpers import ROOT, add_tenant, make_gateway

FIXTURES = {"cbec-import": ROOT / "fixtures/orders/valid", "cbec-export": ROOT / "fixtures/orders/export/valid",
            "general-trade": ROOT / "fixtures/orders/general/valid"}
CASES = [(fmt, p) for fmt, folder in FIXTURES.items() for p in sorted(folder.glob("*.json"))]


def load(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"), parse_float=Decimal)


def filled(fmt: str, kind: str, orders: list[dict], headers: str = "both") -> bytes:
    out = io.BytesIO()
    write_template(fmt, kind, out, headers, orders)
    return out.getvalue()


def read_back(kind: str, data: bytes) -> list:
    table = read_table(kind, io.BytesIO(data))
    return list(group_rows(read_header(table.header), table.rows))


def sheet(rows: list[list]) -> bytes:
    """An XLSX written cell by cell (numbers, formulas: what a provider's Excel holds)."""
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_rows(fmt: str, data: bytes) -> list[list]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [list(r) for r in book.active.iter_rows(values_only=True)]


def count(gw, model) -> int:
    with gw.uow_factory() as uow:
        return uow.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def env(tmp_path, db_url, signing_key):
    gw, _sandbox = make_gateway(tmp_path, db_url, signing_key)
    tenant_id, key = add_tenant(gw)
    return gw, tenant_id, key


# ---- templates and round trips (no database) ---------------------------------------------------

@pytest.mark.parametrize("kind", ["xlsx", "csv"])
@pytest.mark.parametrize("fmt,path", CASES, ids=[p.stem for _, p in CASES])
def test_a_template_filled_from_a_fixture_reads_back_as_the_same_order(fmt, path, kind):
    order = load(path)
    groups = read_back(kind, filled(fmt, kind, [order]))
    assert len(groups) == 1 and groups[0].problems == []
    assert groups[0].data == order
    assert groups[0].rows == list(range(2, 2 + len(order["lines"])))


def test_templates_come_from_the_column_mapping_with_chinese_and_english_headers():
    for fmt in FORMATS:
        cols = columns(fmt)
        header = as_rows(fmt, filled(fmt, "xlsx", []))[0]
        assert header == [header_text(c) for c in cols]
        assert len({c.label for c in cols}) == len(cols)        # every Chinese header names one column
    assert header_text(columns("cbec-import")[0]) == "订单编号 order_no"
    labels = {c.key: c.label for c in columns("cbec-import")}
    assert (labels["payment.amount"], labels["lines.unit_price"], labels["lines.note"]) == ("支付金额", "单价", "商品备注")


def test_the_template_command_and_endpoint(tmp_path, env):
    assert main(["template", "cbec-import", "--xlsx", str(tmp_path / "t.xlsx"), "--csv", str(tmp_path / "t.csv"),
                 "--headers", "zh"]) == 0
    assert as_rows("cbec-import", (tmp_path / "t.xlsx").read_bytes())[0][:2] == ["订单编号", "监管方式"]
    assert (tmp_path / "t.csv").read_text("utf-8-sig").startswith("订单编号,监管方式,")
    client = create_app(env[0], {"TESTING": True}).test_client()
    r = client.get("/v1/templates/general-trade.xlsx?headers=en")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert as_rows("general-trade", r.data)[0][0] == "client_ref"
    assert client.get("/v1/templates/nope.xlsx").status_code == 404


def test_numbers_stay_exact_and_formulas_are_refused():
    assert number_text(0.1 + 0.2) == "0.3"            # Excel's 15 digits, not 0.30000000000000004
    assert (number_text(139.0), number_text(2), number_text(180.00999), number_text(1e-05)) == \
        ("139", "2", "180.00999", "0.00001")
    order = load(FIXTURES["cbec-import"] / "1210-single-line.json")
    rows = as_rows("cbec-import", filled("cbec-import", "xlsx", [order], "en"))
    at = {k: i for i, k in enumerate(rows[0])}
    rows[1][at["goods_value"]] = 398.0                 # numeric cells, as Excel stores money typed in
    rows[1][at["lines.legal_quantity"]] = 0.1 + 0.2
    rows[1][at["logistics.packages"]] = 1.0
    group = read_back("xlsx", sheet(rows))[0]
    assert group.problems == []
    assert (group.data["goods_value"], group.data["lines"][0]["legal_quantity"]) == ("398", "0.3")
    assert group.data["logistics"]["packages"] == 1
    rows[1].append("stray")
    [problem] = read_back("xlsx", sheet(rows))[0].problems
    assert (problem.row, problem.letter, problem.rule) == (2, openpyxl.utils.get_column_letter(len(rows[0]) + 1),
                                                           "unknown-column")
    rows[1].pop()
    rows[1][at["lines.total_price"]] = "=B2*2"
    [problem] = read_back("xlsx", sheet(rows))[0].problems
    assert (problem.row, problem.column, problem.rule) == (2, "lines.total_price", "formula")
    assert problem.letter == openpyxl.utils.get_column_letter(at["lines.total_price"] + 1)


# ---- filing files (database) ----------------------------------------------------------------------

def test_bad_cells_are_named_by_row_and_column_and_nothing_of_that_order_is_stored(env):
    gw, tenant_id, _ = env
    good = load(FIXTURES["cbec-import"] / "1210-single-line.json")
    bad = load(FIXTURES["cbec-import"] / "1210-coupon-discount.json")
    rows = as_rows("cbec-import", filled("cbec-import", "xlsx", [good, bad], "en"))
    at = {k: i for i, k in enumerate(rows[0])}
    rows[3][at["lines.total_price"]] = "1.00"          # the second order's second line: line total wrong
    rows[2][at["logistics.packages"]] = rows[3][at["logistics.packages"]] = "two"   # not an integer
    result = submit_file(gw, tenant_id, "orders.xlsx", io.BytesIO(sheet(rows)))
    assert result.counts == {"rows": 3, "orders": 2, "accepted": 1, "held": 0, "existing": 0, "refused": 1}
    problems = {(p.row, p.column, p.letter, p.rule) for r in result.rows for p in r.problems}
    letter = openpyxl.utils.get_column_letter
    assert problems == {(3, "logistics.packages", letter(at["logistics.packages"] + 1), "integer")}
    rows[2][at["logistics.packages"]] = rows[3][at["logistics.packages"]] = 1
    result = submit_file(gw, tenant_id, "orders.xlsx", io.BytesIO(sheet(rows)))
    by_row = {r.row: r for r in result.rows}
    assert by_row[2].status == "existing" and by_row[3].status == by_row[4].status == "refused"
    assert ("lines.total_price", letter(at["lines.total_price"] + 1), "line-total") in \
        {(p.column, p.letter, p.rule) for p in by_row[4].problems}
    assert by_row[3].problems == [] or all(p.row == 3 for p in by_row[3].problems)
    assert count(gw, m.Order) == 1


def test_an_order_customs_would_refuse_is_reported_held(env):
    gw, tenant_id, _ = env
    good = load(FIXTURES["cbec-import"] / "1210-single-line.json")
    over = load(FIXTURES["cbec-import"] / "9610-over-single-limit.json")     # 5,311.00 in two items
    result = submit_file(gw, tenant_id, "orders.xlsx", io.BytesIO(filled("cbec-import", "xlsx", [good, over], "en")))
    assert (result.counts["accepted"], result.counts["held"], result.counts["refused"]) == (1, 1, 0)
    held = [r for r in result.rows if r.status == "held"]
    assert {r.order_no for r in held} == {over["order_no"]}
    assert gw.order(tenant_id, held[0].order_id)["status"] == "held"


def test_chinese_headers_and_a_duplicate_order_in_the_file(env):
    gw, tenant_id, _ = env
    a = load(FIXTURES["cbec-export"] / "9610-simplified-air-usa.json")
    b = load(FIXTURES["cbec-export"] / "9610-summary-sea-germany.json")
    data = filled("cbec-export", "csv", [a, b, a], "zh")
    assert data.decode("utf-8-sig").startswith("订单编号,监管方式,进出口标志")
    result = submit_file(gw, tenant_id, "出口订单.csv", io.BytesIO(data))
    assert result.counts["accepted"] == 2 and result.counts["refused"] == 1
    last = result.rows[-1]
    assert last.row == 5 and last.status == "refused"
    assert [(p.column, p.header, p.letter, p.rule) for p in last.problems] == \
        [("order_no", "订单编号", "A", "duplicate-in-file")]
    assert count(gw, m.Order) == 2


def test_an_unreadable_file_is_refused_whole(env):
    gw, tenant_id, _ = env
    with pytest.raises(BadFile) as caught:
        submit_file(gw, tenant_id, "x.csv", io.BytesIO("订单编号,颜色\n1,red\n".encode()))
    assert [(p.row, p.letter, p.rule) for p in caught.value.problems] == [(1, "B", "unknown-column")]
    with pytest.raises(BadFile):
        submit_file(gw, tenant_id, "x.xlsx", io.BytesIO(b"PK not a workbook"))
    with pytest.raises(BadFile):
        submit_file(gw, tenant_id, "x.txt", io.BytesIO(b"{}"))
    damaged = io.BytesIO()                                    # a real workbook whose sheet XML is cut short
    with zipfile.ZipFile(io.BytesIO(sheet([["order_no"], ["A1"]]))) as src, zipfile.ZipFile(damaged, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data[: len(data) // 2] if info.filename.endswith("sheet1.xml") else data)
    with pytest.raises(BadFile):
        submit_file(gw, tenant_id, "x.xlsx", io.BytesIO(damaged.getvalue()))
    assert count(gw, m.Order) == 0
    a = load(FIXTURES["cbec-export"] / "9610-simplified-air-usa.json")
    b = load(FIXTURES["cbec-export"] / "9610-summary-sea-germany.json")
    broken = filled("cbec-export", "csv", [a, b], "en") + b"\n" * 20000 + b"\xff\xfe not UTF-8\n"  # past the 1st read
    result = submit_file(gw, tenant_id, "x.csv", io.BytesIO(broken))      # a is filed, b was being read
    assert [r.status for r in result.rows] == ["accepted", "refused"]
    assert result.rows[-1].problems[0].rule == "unreadable" and count(gw, m.Order) == 1


def test_json_and_json_lines_go_through_the_same_path(env):
    gw, tenant_id, _ = env
    a = (FIXTURES["cbec-import"] / "9610-minimal.json").read_text("utf-8")
    broken = json.loads(a)
    broken["order_no"], broken["goods_value"] = "NEW-1", 5
    lines = "\n".join([json.dumps(json.loads(a), ensure_ascii=False), "{oops", json.dumps(broken)]).encode()
    result = submit_file(gw, tenant_id, "orders.jsonl", io.BytesIO(lines))
    assert [(r.row, r.status) for r in result.rows] == [(1, "accepted"), (2, "refused"), (3, "refused")]
    assert [(p.column, p.rule) for p in result.rows[2].problems] == [("$.goods_value", "schema:type")]
    calls: list = []
    again = submit_file(gw, tenant_id, "orders.json", io.BytesIO(f"[{a}, {a}]".encode()),
                        progress=lambda done, total: calls.append((done, total)), chunk=1)
    assert [r.status for r in again.rows] == ["existing", "existing"]
    assert calls == [(1, None), (2, None), (2, 2)]          # after each chunk, then the end


# ---- 500 lines: the upload API and gateway submit ------------------------------------------------

def five_hundred_lines(prefix: str) -> list[dict]:
    base = load(FIXTURES["cbec-export"] / "9610-multi-line-mail-uk.json")
    assert len(base["lines"]) == 5
    orders = []
    for i in range(100):                                # 100 orders × 5 lines
        o = copy.deepcopy(base)
        o["order_no"] = f"{prefix}{i:05d}"
        o["payment"]["transaction_no"] = f"PAY{prefix}{i:05d}"
        o["logistics"]["waybill_no"] = f"WB{prefix}{i:05d}"
        orders.append(o)
    return orders


def test_a_500_line_xlsx_through_the_upload_api(env):
    gw, tenant_id, key = env
    data = filled("cbec-export", "xlsx", five_hundred_lines("UP"))
    client = create_app(gw, {"TESTING": True}).test_client()
    started = time.perf_counter()
    r = client.post("/v1/orders/upload", headers={"Authorization": f"Bearer {key}"},
                    data={"file": (io.BytesIO(data), "orders.xlsx")}, content_type="multipart/form-data")
    took = time.perf_counter() - started
    assert r.status_code == 200, r.get_data(as_text=True)[:2000]
    body = r.get_json()
    assert body["counts"] == {"rows": 500, "orders": 100, "accepted": 100, "held": 0, "existing": 0,
                              "refused": 0}
    assert len(set(body["accepted_order_ids"])) == 100
    assert count(gw, m.Order) == 100
    assert count(gw, m.OutboxItem) == count(gw, m.Filing) > 100
    print(f"\n500-line XLSX through POST /v1/orders/upload: {took:.1f} s")


def test_upload_errors_are_problem_json_and_the_size_is_bounded(tmp_path, db_url, signing_key):
    from dataclasses import replace
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    gw.settings = replace(gw.settings, upload_max_bytes=2000)
    _, key = add_tenant(gw)
    client = create_app(gw, {"TESTING": True}).test_client()
    auth = {"Authorization": f"Bearer {key}"}
    big = filled("cbec-import", "csv", [load(FIXTURES["cbec-import"] / "1210-six-lines.json")])
    assert len(big) > 2000
    r = client.post("/v1/orders/upload", headers=auth, data={"file": (io.BytesIO(big), "o.csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 413
    r = client.post("/v1/orders/upload", headers=auth, data={"file": (io.BytesIO("订单编号,颜色\n".encode()), "o.csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert r.get_json()["problems"][0]["letter"] == "B"
    assert client.post("/v1/orders/upload", headers=auth, data={}).status_code == 400
    assert count(gw, m.Order) == 0


def test_a_500_line_xlsx_through_gateway_submit_with_progress_and_a_result_sheet(tmp_path, db_url, signing_key,
                                                                             monkeypatch, capsys):
    settings_env = {"GATEWAY_INSTANCE_DIR": str(tmp_path / "instance"), "GATEWAY_DATABASE_URL": db_url}
    for name, value in settings_env.items():
        monkeypatch.setenv(name, value)
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    tenant_id, _ = add_tenant(gw)
    orders = five_hundred_lines("CLI")
    orders[7]["lines"][2]["total_price"] = "999.00"        # one order refused: its line total is wrong
    path = tmp_path / "orders.xlsx"
    path.write_bytes(filled("cbec-export", "xlsx", orders))
    started = time.perf_counter()
    code = main(["submit", str(path), "--tenant", tenant_id, "--result", str(tmp_path / "result.xlsx")])
    took = time.perf_counter() - started
    out = capsys.readouterr().out
    assert code == 1, out
    assert "500 rows, 100 orders: 99 accepted, 0 filed before, 1 refused" in out
    assert "row 39, column" in out and "[line-total]" in out        # order 7's third line: 2 + 7×5 + 2 = 39
    assert count(gw, m.Order) == 99
    result = as_rows("cbec-export", (tmp_path / "result.xlsx").read_bytes())
    assert result[0][-3:] == ["status", "order_id", "problems"] and len(result) == 501
    assert result[36][-3] == "refused" and result[1][-3] == "accepted" and result[1][-2]   # rows 37-41
    assert "line-total" in result[38][-1] and "goods-value" in result[36][-1]
    print(f"\n500-line XLSX through gateway submit: {took:.1f} s")
    csv_result = tmp_path / "result.csv"
    assert main(["submit", str(path), "--tenant", tenant_id, "--result", str(csv_result), "--quiet"]) == 1
    rows = list(csv.reader(csv_result.read_text("utf-8-sig").splitlines()))
    assert rows[1][-3] == "existing" and count(gw, m.Order) == 99
    bad = tmp_path / "bad.csv"
    bad.write_text("nonsense\n1\n", "utf-8")
    assert main(["submit", str(bad), "--tenant", tenant_id]) == 2
