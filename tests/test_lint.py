"""The house rules as a test: ``ruff check gateway bench tests`` and ``mypy`` (configuration in pyproject.toml)
report nothing, so CI enforces them like any other behaviour.

Both run as subprocesses with the executables of the interpreter running the tests (the worktree's
.venv after ``./dev setup``, which installs them with the dev extras). A missing tool skips loudly;
under CI=true it fails.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def _tool(name: str) -> Path:
    path = BIN / name
    if not path.is_file():
        message = (f"{name} NOT INSTALLED next to {sys.executable}: the {name} check did NOT run "
                   "(./dev setup installs the dev extras)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " CI=true: this is a failure, not a skip.", pytrace=False)
        pytest.skip(message)
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing_in_gateway_bench_and_tests():
    result = _run(_tool("ruff"), "check", "gateway", "bench", "tests", "--output-format", "concise", "--no-fix")
    assert result.returncode == 0, f"ruff check gateway bench tests:\n{result.stdout}{result.stderr}"


def test_mypy_finds_nothing_in_gateway():
    result = _run(_tool("mypy"))        # packages = ["gateway"] from [tool.mypy]
    assert result.returncode == 0, f"mypy:\n{result.stdout}{result.stderr}"
    assert "Success" in result.stdout, result.stdout


def test_the_checks_can_fail(tmp_path):
    """The two checks above are worth something only if the tools report what they should: a
    module with an unused import and a wrong return type makes each of them fail."""
    ruff, mypy = _tool("ruff"), _tool("mypy")
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f() -> int:\n    return 'x'\n")
    ruff_result = _run(ruff, "check", "--config", ROOT / "pyproject.toml", "--no-cache", "--output-format", "concise",
                       "--no-fix", bad)
    assert ruff_result.returncode == 1 and "F401" in ruff_result.stdout, ruff_result.stdout + ruff_result.stderr
    mypy_result = _run(mypy, "--no-incremental", "--config-file", ROOT / "pyproject.toml", bad)
    assert mypy_result.returncode == 1 and "return-value" in mypy_result.stdout, mypy_result.stdout
