"""The README's first command: `gateway demo` on the embedded defaults: orders of the three regimes
(CBEC import, CBEC export, general trade) reaching a combined status across customs, inspection, tax
and FX."""
import os
import subprocess
import sys

from tests.helpers import ROOT, valid_fixtures

EXPORT = sorted((ROOT / "fixtures" / "orders" / "export" / "valid").glob("*.json"))
GENERAL = sorted((ROOT / "fixtures" / "orders" / "general" / "valid").glob("*.json"))
REGIMES = (["1210"], ["9610"], ["1239"], ["0110"])


def test_demo_submits_the_fixtures_and_shows_their_statuses_per_agency(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "demo", "--instance", str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    header = next(line for line in out.splitlines() if line.startswith("order ") and "customs" in line)
    assert header.split()[-4:] == ["customs", "inspection", "tax", "fx"]     # a column per agency
    table = out.split(header, 1)[1].split("\nTax of the CBEC imports", 1)[0]
    rows = [line for line in table.splitlines() if line.split()[1:2] in REGIMES]
    total = len(valid_fixtures()) + len(EXPORT) + len(GENERAL)
    assert len(rows) == total
    assert sum(row.split()[3] == "released" for row in rows) == total - 1          # combined status
    by_dir = {(row.split()[1], row.split()[2]) for row in rows}
    assert {("1210", "im"), ("9610", "im"), ("9610", "ex"), ("1239", "ex"), ("0110", "im"), ("0110", "ex")} <= by_dir
    released = [row.split() for row in rows if row.split()[3] == "released"]
    # released means every agency that took part released: no agency cell is anything else
    assert all(set(cells[4:]) <= {"released", "-", "in-DecMsg"} for cells in released)
    assert sum(cells[4:] == ["released"] * 4 for cells in released) >= 10          # all four agencies
    assert all(row.split()[5] == "in-DecMsg" for row in rows if row.split()[1] == "0110")
    # the order over the single-transaction limit is held, its rule named: customs would refuse it (-621005)
    held = [row for row in rows if row.split()[3] == "held"]
    assert len(held) == 1 and "[cbec-single-limit]" in out and "621005" in out
    bills = out.split("bill = ours", 1)[1].split("\n\n", 1)[0]
    bill_rows = [line for line in bills.splitlines() if line.strip() and not line.startswith("  note")]
    assert len(bill_rows) == len(valid_fixtures()) - 1 and all(line.endswith("yes") for line in bill_rows)
    assert "Receipt history" in out and "2 -> 120 -> 399 -> 800" in out
    assert "InspectionRecord: accepted -> released" in out and "TaxRecord: accepted -> 1" in out
    assert (tmp_path / "demo" / "gateway.sqlite3").exists()
