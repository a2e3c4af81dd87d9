"""The package layering of services/lobstream/, read from the source: who may import whom.

The table below is the one each package's ``__init__`` docstring states. Imports are read with
:mod:`ast` (``TYPE_CHECKING`` imports and imports inside functions count too), so the test needs
no import side effects and names the offending file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "services"
PACKAGE = ROOT / "lobstream"

SERVICE = (
    "lobstream.book",
    "lobstream.records",
    "lobstream.kafka",
    "lobstream.http",
    "lobstream.settings",
    "lobstream.logs",
    "lobstream.telemetry",
)
"""What both services build on."""

ALLOWED: dict[str, tuple[str, ...]] = {
    "lobstream.settings": (),
    "lobstream.logs": (),
    "lobstream.records": (),
    "lobstream.http": ("lobstream.logs",),
    "lobstream.kafka": ("lobstream.settings",),
    "lobstream.telemetry": ("lobstream.book.catalogue", "lobstream.readme"),
    "lobstream.readme": (),
    "lobstream.deribit": ("lobstream.settings", "lobstream.logs"),
    "lobstream.book": ("lobstream.settings", "lobstream.logs", "lobstream.deribit.protocol"),
    "lobstream.simulator": ("lobstream.deribit.protocol", "lobstream.deribit.auth"),
    "lobstream.producer": ("lobstream.deribit", *SERVICE),
    "lobstream.consumer": SERVICE,
    "lobstream.offline": (
        "lobstream.book",
        "lobstream.deribit",
        "lobstream.settings",
        "lobstream.logs",
    ),
    "lobstream.devtools": ("lobstream",),
    "lobstream.cli": ("lobstream",),
    "lobstream.__main__": ("lobstream.cli",),
    "lobstream": (),
}
"""Module or package -> the lobstream modules and packages it may import (besides its own)."""

IO_LIBRARIES = ("websockets", "confluent_kafka", "prometheus_client", "asyncio", "socket")

NO_IO = (
    "lobstream.settings",
    "lobstream.logs",
    "lobstream.records",
    "lobstream.book",
    "lobstream.deribit.protocol",
    "lobstream.deribit.session",
    "lobstream.deribit.auth",
    "lobstream.deribit.backoff",
    "lobstream.deribit.events",
    "lobstream.producer.core",
    "lobstream.producer.stats",
    "lobstream.consumer.pipeline",
    "lobstream.consumer.rebuild",
    "lobstream.simulator.market",
    "lobstream.simulator.merge",
)
"""The cores: they and everything they import (transitively) load no I/O library."""


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    where: str


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(name: str, source: str, where: str) -> Iterator[Import]:
    """Every absolute import in ``source`` (relative ones are resolved against ``name``)."""
    package = name if where.endswith("__init__.py") else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, f"{where}:{node.lineno}")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # "from lobstream import kafka" imports the module lobstream.kafka.
                yield Import(name, f"{base}.{alias.name}", f"{where}:{node.lineno}")


def scan(root: Path = ROOT) -> list[Import]:
    found: list[Import] = []
    for path in sorted((root / "lobstream").rglob("*.py")):
        found.extend(imports_of(module_name(path, root), path.read_text(), str(path)))
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def owner(name: str) -> str:
    """The most specific ALLOWED entry that ``name`` belongs to."""
    return max((key for key in ALLOWED if _within(name, key)), key=len)


def violations(found: Iterable[Import], modules: set[str]) -> list[str]:
    """Imports of lobstream modules that the table does not allow."""
    bad = []
    for imp in found:
        if not _within(imp.imported, "lobstream"):
            continue
        target = imp.imported
        # "from lobstream.book.router import Router" names an attribute, not a module.
        while target not in modules and "." in target:
            target = target.rpartition(".")[0]
        home = owner(imp.importer)
        if _within(target, home) and home != "lobstream":
            continue
        if target == "lobstream" and imp.imported.endswith("__version__"):
            continue
        if not any(_within(target, allowed) for allowed in ALLOWED[home]):
            bad.append(f"{imp.where}: {imp.importer} imports {target}")
    return bad


def graph(found: Iterable[Import], modules: set[str]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name in modules:
        # Importing a module runs its package's __init__ first.
        parent = name.rpartition(".")[0]
        if parent in modules:
            edges[name].add(parent)
    for imp in found:
        target = imp.imported
        while target not in modules and "." in target:
            target = target.rpartition(".")[0]
        if target in modules and target != imp.importer:
            edges[imp.importer].add(target)
        elif not _within(imp.imported, "lobstream"):
            edges[imp.importer].add("!" + imp.imported.split(".")[0])
    return edges


def closure(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        for nxt in edges.get(name, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


FOUND = scan()
MODULES = {module_name(path) for path in PACKAGE.rglob("*.py")}
EDGES = graph(FOUND, MODULES)


def test_every_import_follows_the_package_table() -> None:
    assert violations(FOUND, MODULES) == []


@pytest.mark.parametrize("core", NO_IO)
def test_no_io_cores_load_no_io_library(core: str) -> None:
    reached = {core} | closure(core, EDGES)
    members = {m for m in MODULES if _within(m, core)}
    loaded = {lib for m in reached | members for lib in EDGES.get(m, ()) if lib.startswith("!")}
    assert sorted(loaded & {"!" + lib for lib in IO_LIBRARIES}) == []


def test_only_the_cli_imports_devtools() -> None:
    users = {
        imp.importer
        for imp in FOUND
        if _within(imp.imported, "lobstream.devtools")
        and not _within(imp.importer, "lobstream.devtools")
    }
    assert users <= {"lobstream.cli"}


def test_no_import_circle() -> None:
    package_edges: dict[str, set[str]] = {}
    for name, targets in EDGES.items():
        for target in targets:
            if not target.startswith("!") and owner(target) != owner(name):
                package_edges.setdefault(owner(name), set()).add(owner(target))
    for start in package_edges:
        assert start not in closure(start, package_edges), f"{start} imports itself back"


# --- the checker can fail -------------------------------------------------------------------


def test_the_checker_names_a_core_importing_prometheus(tmp_path: Path) -> None:
    fake = tmp_path / "lobstream" / "book"
    fake.mkdir(parents=True)
    (tmp_path / "lobstream" / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "orderbook.py").write_text("from lobstream.consumer.metrics import gauge\n")
    (fake / "router.py").write_text("import prometheus_client\nfrom lobstream.devtools import x\n")
    found = scan(tmp_path)
    modules = {module_name(p, tmp_path) for p in (tmp_path / "lobstream").rglob("*.py")}
    modules |= {"lobstream.consumer.metrics", "lobstream.devtools"}
    bad = violations(found, modules)
    assert any(
        "orderbook.py:1: lobstream.book.orderbook imports lobstream.consumer" in b for b in bad
    )
    assert any("lobstream.book.router imports lobstream.devtools" in b for b in bad)
    edges = graph(found, modules)
    assert "!prometheus_client" in closure("lobstream.book.router", edges)
