"""The house's rooms and what each may import (docs/architecture.md "Rooms"), read from the source
with ``ast``: every ``import gateway...`` and ``from gateway... import`` anywhere in a module, the
ones inside functions included (a lazy import is still a dependency). And no import cycle between
modules at import time (top-level imports only: a cycle there breaks depending on which module
loads first)."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"

# room -> the rooms it may import (besides itself). Bottom first. A room is gateway.<first part>.
MAY_IMPORT: dict[str, set[str]] = {
    "reference": set(),
    "egress": set(),
    "ports": set(),
    "schemas": set(),
    "domain": {"reference"},
    "declarations": {"domain", "reference", "schemas"},
    "signing": {"store", "schemas"},                     # the encrypted key store keeps its rows in the database
    "audit": {"signing", "schemas"},                     # pure chain, checkpoint and bundle code: no database
    "store": {"domain", "audit"},                        # the audit chain's hash rules live in audit/
    "adapters": {"ports", "egress", "domain", "reference", "schemas", "signing", "logs"},
    "config": {"adapters", "domain", "signing"},
    "logs": set(),
    "service": {"domain", "declarations", "reference", "schemas", "store", "signing", "audit", "ports", "egress",
                "adapters"},
    "bootstrap": {"adapters", "config", "domain", "egress", "ports", "service", "signing", "store", "schemas",
                  "logs"},
    "runtime": {"bootstrap", "config", "service", "logs"},
    "worker": {"config", "runtime", "service", "logs"},
    "api": {"bootstrap", "domain", "service", "signing", "store", "web", "schemas", "logs", "config", "audit",
            "reference", "ports", "egress"},
    "web": {"domain", "service", "signing", "store", "schemas", "config", "audit", "reference"},
    "dispatch_processes": {"config", "logs"},
    "server": {"api", "bootstrap", "config", "dispatch_processes", "logs", "runtime"},   # runtime: settle_heap
    "cli": None,                                        # the outermost room: anything
}

# Narrower rules inside a room, and the known exceptions to the table (each with its reason).
SANDBOX_MAY_NOT = ("gateway.domain", "gateway.declarations")       # issue 11: the sandbox judges on its own
EXCEPTIONS = {
    # the DXP envelope uses one domain helper: the China time zone of its times
    ("gateway.adapters.dxpmsg", "gateway.domain.common.dates"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(GATEWAY.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text("utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "gateway"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "gateway":
                continue
            for alias in node.names:          # `from gateway import logs` imports gateway.logs
                sub = f"{target}.{alias.name}"
                found.add(sub if _exists(sub) else target)
    return found


def _exists(module: str) -> bool:
    path = GATEWAY.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "gateway"


def _sources() -> list[Path]:
    return [p for p in sorted(GATEWAY.rglob("*.py")) if "migrations" not in p.parts]


def test_every_room_is_in_the_table():
    rooms = {_room(_module_name(p)) for p in _sources()} - {"gateway"}
    assert rooms <= set(MAY_IMPORT), f"rooms without a rule: {sorted(rooms - set(MAY_IMPORT))}"


def test_each_room_imports_only_what_it_may():
    wrong = []
    for path in _sources():
        module = _module_name(path)
        room = _room(module)
        allowed = MAY_IMPORT.get(room)
        for target in sorted(_imports(path)):
            other = _room(target)
            if allowed is None or other in (room, "gateway") or (module, target) in EXCEPTIONS:
                continue
            if other not in allowed:
                wrong.append(f"{module} -> {target}  ({room} may import {sorted(allowed) or 'nothing of ours'})")
    assert not wrong, "\n".join(wrong)


def test_nothing_below_the_entry_points_imports_them():
    entry = {"api", "web", "cli", "server", "worker"}
    wrong = [f"{_module_name(p)} -> {t}" for p in _sources() if _room(_module_name(p)) not in entry | {"runtime"}
             for t in _imports(p) if _room(t) in entry and not (_room(_module_name(p)) == "api" and _room(t) == "web")]
    assert not wrong, "\n".join(wrong)


def test_the_sandbox_government_judges_on_its_own():
    wrong = [f"{_module_name(p)} -> {t}" for p in _sources() if _module_name(p).startswith("gateway.adapters.sandbox")
             for t in _imports(p) if t.startswith(SANDBOX_MAY_NOT)]
    assert sorted(set(wrong) - set(SANDBOX_DEBT)) == [], "the sandbox imports the gateway's own rules"


# What the sandbox borrows from the gateway's rules: nothing since issue 11 item 5; never to grow.
SANDBOX_DEBT: tuple[str, ...] = ()


def test_no_import_cycle_at_import_time():
    graph: dict[str, set[str]] = defaultdict(set)
    for path in _sources():
        graph[_module_name(path)] |= {t for t in _imports(path, top_level_only=True) if t != _module_name(path)}
    # a package's __init__ importing its own submodules is how packages are built, not a cycle
    def edge(a: str, b: str) -> bool:
        return not (b.startswith(a + ".") or a.startswith(b + "."))

    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if not edge(node, nxt):
                continue
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]) if nxt in stack else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not cycles, "\n".join(cycles)
