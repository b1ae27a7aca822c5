"""The shape of the tree: imports point down the data path, no cycles, one installable set.

Every ``import`` and ``from ... import`` in every module of our packages is read from the AST
(also those inside functions and under ``TYPE_CHECKING``: a forbidden dependency is one even
when it is imported lazily), resolved to the module it names, and checked against the layer
rules below and for cycles between modules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Our packages and which of the others each may import (the data path, top to bottom).
ALLOWED: dict[str, frozenset[str]] = {
    "jerkmon": frozenset({"sim", "collector", "detector", "storage", "reports", "dashboards"}),
    "dashboards": frozenset({"storage", "detector"}),
    "reports": frozenset({"storage", "detector"}),
    "storage": frozenset({"detector"}),
    "sim": frozenset({"collector", "detector"}),
    "collector": frozenset({"detector"}),
    "detector": frozenset(),
}
PACKAGES = tuple(ALLOWED)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            found[_module_name(path)] = path
    return found


#: Compiled modules (Cython sources): they import nothing of ours.
COMPILED = {_module_name(p) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.pyx")}


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of ours that ``name`` refers to (a module, or a name in a package)."""
    while name:
        if name in MODULES or name in COMPILED:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported module of ours, line) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name)
                if target is not None:
                    yield target, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_pkg:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                parent = ".".join([*base, node.module] if node.module else base)
            else:
                parent = node.module or ""
            for alias in node.names:
                # ``from pkg import mod`` imports the module pkg.mod when there is one.
                target = _resolve(f"{parent}.{alias.name}") or _resolve(parent)
                if target is not None:
                    yield target, node.lineno


GRAPH: dict[str, set[str]] = {
    m: {t for t, _ in _imports(m, p) if t != m} for m, p in MODULES.items()
} | {m: set() for m in COMPILED}


def test_every_package_is_found() -> None:
    for pkg in PACKAGES:
        assert pkg in MODULES, f"{pkg}/__init__.py is missing"
    assert len(MODULES) > 60


def test_imports_point_down_the_data_path() -> None:
    wrong = []
    for module, path in MODULES.items():
        own = module.split(".")[0]
        for target, line in _imports(module, path):
            other = target.split(".")[0]
            if other != own and other not in ALLOWED[own]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {own} imports {target}")
    assert not wrong, "imports against the data path:\n" + "\n".join(wrong)


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    cycles = _cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checks_catch_a_bad_import(tmp_path: Path) -> None:
    """The rules are not vacuous: a storage module importing reports is caught."""
    fake = ROOT / "storage" / "backwards.py"
    module = _module_name(fake)
    fake_source = "from reports.nightdata import NightData\nimport jerkmon.cli\n"
    tree_targets = []
    for node in ast.walk(ast.parse(fake_source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            tree_targets.append(_resolve(node.module))
        elif isinstance(node, ast.Import):
            tree_targets.extend(_resolve(a.name) for a in node.names)
    assert tree_targets == ["reports.nightdata", "jerkmon.cli"]
    own = module.split(".")[0]
    assert all(t is not None and t.split(".")[0] not in ALLOWED[own] for t in tree_targets)


def test_command_modules_only_parse_and_call() -> None:
    """CLI command modules hold argument parsing, not the application: no classes, and
    no function much longer than an argument parser needs."""
    for path in sorted((ROOT / "jerkmon" / "commands").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            assert not isinstance(node, ast.ClassDef), f"{path.name}: class {node.name}"
        assert len(path.read_text(encoding="utf-8").splitlines()) < 400, path.name


@pytest.mark.slow
def test_wheel_installs_exactly_our_packages(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("jerkmon-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == set(PACKAGES), sorted(top)
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(entry).decode()
    assert "jerkmon = jerkmon.cli:main" in text
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
