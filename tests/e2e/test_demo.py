"""The README's first command: `gateway demo` on the embedded defaults."""
import os
import subprocess
import sys

from tests.helpers import valid_fixtures


def test_demo_submits_the_fixtures_and_shows_their_statuses(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "demo", "--instance", str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    rows = [line for line in out.splitlines() if line.split()[:1] and line.split()[1:2] in (["1210"], ["9610"])]
    assert len(rows) == len(valid_fixtures())
    assert sum("released" in row for row in rows) == len(valid_fixtures()) - 1
    assert "-621005" in out and "单笔限额" in out           # the rejected one shows customs' reason
    assert "Receipt history" in out and "2 -> 120 -> 399 -> 800" in out
    assert (tmp_path / "demo" / "gateway.sqlite3").exists()
