"""The sandbox is a second reading of the rules, not a mirror of the gateway's (issue 11): no module
under gateway/adapters/sandbox/ imports gateway.domain or gateway.declarations."""
from __future__ import annotations

import ast
from pathlib import Path

import gateway

SANDBOX = Path(gateway.__file__).parent / "adapters" / "sandbox"
FORBIDDEN = ("gateway.domain", "gateway.declarations")


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, absolute (relative imports resolved against its package)."""
    package = "gateway.adapters.sandbox"
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


def test_the_sandbox_modules_are_found():
    assert {"government.py", "rules.py", "policy.py", "taxbill.py", "agency_desk.py"} <= {
        p.name for p in SANDBOX.glob("*.py")}


def test_no_sandbox_module_imports_the_gateways_domain_or_declarations():
    offending = {f"{path.name}: {name}" for path in sorted(SANDBOX.rglob("*.py")) for name in _imports(path)
                 if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)}
    assert not offending, sorted(offending)


def test_the_check_sees_every_import_form(tmp_path):
    """The walk would catch the forms a module could use (so the test above can fail)."""
    sample = tmp_path / "sample.py"
    sample.write_text("import gateway.domain.tax\nfrom gateway.declarations import builders\n"
                      "from gateway import domain\nfrom ...domain import status\n"
                      "def f():\n    from gateway.domain.tax import cbec\n", encoding="utf-8")
    found = _imports(sample)
    assert "gateway.domain.tax" in found and "gateway.declarations" in found
    assert "gateway.domain" in found                      # from gateway import domain
    assert "gateway.domain.status" in found               # relative, three levels up from the sandbox
    assert "gateway.domain.tax.cbec" in found             # inside a function
