"""The house (DESIGN.md §1): packages by job, arrows one way, no import circle, small modules.

Imports are read from the source (AST), including those inside functions, except under
``if TYPE_CHECKING:``: a lazy import that points the wrong way is still a wrong arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "zoo"

#: Layers from the bottom up; a module may import its own layer and the ones below.
LAYERS: list[tuple[str, ...]] = [
    ("zoo.errors", "zoo.problems", "zoo.settings", "zoo.text", "zoo.atomic"),
    ("zoo.manifest",),
    ("zoo.catalog",),
    ("zoo.weights",),
    ("zoo.loading", "zoo.nn"),
    ("zoo.embed",),
    ("zoo.compat", "zoo.scaffold", "zoo.site", "zoo.verify"),
    ("zoo.cli", "zoo.__main__"),
]
#: The arrows up the house that are allowed, each for its reason: ``Catalog().load(name)``, the
#: Python interface users were promised, delegates to the one load path above it (lazily).
DELEGATIONS = {("zoo.catalog.reader", "zoo.loading.api")}
#: ``zoo/__init__.py`` is the roof: it may reach any room, lazily.
ROOF = "zoo"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, modules: dict[str, Path]) -> dict[str, bool]:
    """zoo modules imported by a file -> whether at module level (not inside a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, bool] = {}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            top = False
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        for target in targets:
            if target == "zoo" or target.startswith("zoo."):
                module = resolve(target)
                if module is not None:
                    found[module] = found.get(module, False) or top
        for child in ast.iter_child_nodes(node):
            visit(child, top)

    visit(tree, True)
    return found


def _layer(module: str) -> int | None:
    for index, roots in enumerate(LAYERS):
        if any(module == r or module.startswith(r + ".") for r in roots):
            return index
    return None


def test_every_module_sits_in_a_layer() -> None:
    homeless = [m for m in _modules() if m != ROOF and _layer(m) is None]
    assert homeless == [], f"modules outside the house's rooms: {homeless}"


def test_arrows_point_one_way() -> None:
    modules = _modules()
    wrong = []
    for module, path in modules.items():
        if module == ROOF:
            continue
        here = _layer(module)
        assert here is not None
        for target in _imports(path, modules):
            if target == ROOF:
                continue
            there = _layer(target)
            if there is not None and there > here and (module, target) not in DELEGATIONS:
                wrong.append(f"{module} -> {target}")
    assert wrong == [], "imports pointing up the house:\n" + "\n".join(wrong)


def test_no_import_circle() -> None:
    modules = _modules()
    graph = {
        m: {t for t in _imports(p, modules) if (m, t) not in DELEGATIONS} - {m, ROOF}
        for m, p in modules.items()
        if m != ROOF
    }
    # A package's __init__ is imported on the way to its modules; that is not an arrow.
    for module in graph:
        graph[module] -= {pkg for pkg in graph if module.startswith(pkg + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_modules_stay_small() -> None:
    big = {
        m: n
        for m, p in _modules().items()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert big == {}, f"modules over {MAX_LINES} lines: {big}"


def test_tests_mirror_the_packages() -> None:
    rooms = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    missing = sorted(r for r in rooms if not (REPO_ROOT / "tests" / r).is_dir())
    assert missing == [], f"packages without a tests/ folder: {missing}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from zoo.loading import pipeline\n", {"zoo.loading", "zoo.loading.pipeline"}),
        ("def f():\n    from zoo.loading.backbone import Backbone\n", {"zoo.loading.backbone"}),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from zoo.loading import doctor\n",
            set(),
        ),
    ],
)
def test_the_import_reader_sees_lazy_imports_and_skips_type_checking(
    tmp_path: Path, source: str, expected: set[str]
) -> None:
    file = tmp_path / "m.py"
    file.write_text(source)
    assert set(_imports(file, _modules())) == expected


def picture() -> str:
    """The layers as CONTRIBUTING.md draws them, top floor first (generated from LAYERS)."""
    floors = [" | ".join(r.removeprefix("zoo.") for r in roots) for roots in reversed(LAYERS)]
    width = max(len(f) for f in floors)
    lines = []
    for i, floor in enumerate(floors):
        lines.append(f"  {floor.center(width)}".rstrip())
        if i < len(floors) - 1:
            lines.append(f"  {'v'.center(width)}".rstrip())
    return "\n".join(["```text", *lines, "```"])


def test_contributing_draws_the_house_as_it_is() -> None:
    """CONTRIBUTING's picture of the layers is this test's LAYERS (arrows point down). To
    regenerate it, print ``picture()`` and paste it between the markers."""
    text = (REPO_ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    start, end = "<!-- house: generated from tests/test_house.py -->\n", "\n<!-- /house -->"
    assert start in text, "CONTRIBUTING.md lost the house picture's markers"
    drawn = text.split(start, 1)[1].split(end, 1)[0]
    assert drawn == picture(), (
        "the house changed: paste tests/test_house.py picture() into CONTRIBUTING.md"
    )
