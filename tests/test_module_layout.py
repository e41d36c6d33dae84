"""The code stays navigable: no two modules import each other, and modules stay small.

Read from the source with :mod:`ast`. Imports inside functions count (a lazy import
still ties two modules together); imports under ``if TYPE_CHECKING:`` count only
between modules that must stay apart outright (:data:`APART`): elsewhere a type
named in an annotation is a declaration, not a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ((ROOT / "framework", "gnomon"), (ROOT / "observers", "gnomon.observers"))

#: The most lines a module may have before it is split by noun.
MAX_LINES = 450

#: Layers that must not know each other at all, not even by type: the lower one takes a protocol.
APART = (
    ("gnomon.captured", "gnomon.ingredient"),
    ("gnomon.commands", "gnomon.experiment"),
    ("gnomon.config.nesting", "gnomon.ingredient"),
)


def modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for base, package in PACKAGES:
        for path in base.rglob("*.py"):
            parts = [p for p in path.relative_to(base).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = (path, path.name == "__init__.py")
    return found


def _type_checking_blocks(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return inside


def imports(*, types: bool) -> dict[str, set[str]]:
    """Which modules each module imports; ``types``: also those imported for annotations only."""
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, (path, is_package) in known.items():
        package = name.split(".") if is_package else name.split(".")[:-1]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = set() if types else _type_checking_blocks(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            edges[name].update(c for c in candidates if c in known and c != name)
    return edges


def test_no_two_modules_import_each_other() -> None:
    edges = imports(types=False)
    pairs = sorted(
        f"{a} <-> {b}"
        for a in edges
        for b in edges[a]
        if a < b and a in edges[b] and not (a.startswith(b + ".") or b.startswith(a + "."))  # a package and its own
    )
    assert pairs == []


def test_lower_layers_do_not_know_the_upper_ones_even_by_type() -> None:
    edges = imports(types=True)
    assert [(a, b) for a, b in APART if b in edges[a]] == []


def test_modules_stay_small() -> None:
    long = {name: n for name, (path, _) in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
