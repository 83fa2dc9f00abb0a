"""The tests themselves: every test function makes a real assertion.

A test that only runs code proves that the code does not raise, nothing more, and a
check that cannot fail reads as coverage it is not. Each ``test_*`` function (module
level or in a ``Test*`` class) must contain at least one of:

- an ``assert`` whose condition is not a constant;
- ``pytest.raises`` / ``pytest.warns`` / ``pytest.fail`` (as a context manager or a call);
- a call to a helper named ``assert_*``, ``check_*`` or ``expect_*`` (for example
  ``torch.testing.assert_close``), or to a function defined somewhere under tests/ that
  itself asserts (directly or through such helpers).

The parser only reads the source (nothing is imported), so the test is fast and safe.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ASSERTING_PREFIXES = ("assert_", "check_", "expect_")
PYTEST_ASSERTIONS = {"raises", "warns", "fail", "deprecated_call"}

AnyFunction = ast.FunctionDef | ast.AsyncFunctionDef
Key = tuple[Path, str]  # (module file, qualified name inside it)


def _modules_in(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _own_nodes(fn: AnyFunction) -> Iterator[ast.AST]:
    """Every node of ``fn``'s body, without descending into functions defined inside it."""
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def _is_assertion(node: ast.AST) -> bool:
    if isinstance(node, ast.Assert):
        return not isinstance(node.test, ast.Constant)  # `assert True` checks nothing
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    if name.startswith(ASSERTING_PREFIXES):
        return True
    owner = func.value if isinstance(func, ast.Attribute) else None
    return name in PYTEST_ASSERTIONS and isinstance(owner, ast.Name) and owner.id == "pytest"


class _Index:
    """The functions under a tests root and what each call inside them can refer to."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.trees = {
            p: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in _modules_in(root)
        }
        self.functions: dict[Key, AnyFunction] = {}
        #: methods of the classes in the test kits (non-test modules), by method name
        self.kit_methods: dict[str, list[Key]] = {}
        for path, tree in self.trees.items():
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    self.functions[(path, node.name)] = node
                elif isinstance(node, ast.ClassDef):
                    for item in node.body:
                        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                            key = (path, f"{node.name}.{item.name}")
                            self.functions[key] = item
                            if not path.name.startswith("test_"):
                                self.kit_methods.setdefault(item.name, []).append(key)
        self._memo: dict[int, bool] = {}

    def _module_file(self, dotted: str) -> Path | None:
        parts = dotted.split(".")
        if parts[0] != self.root.name:
            return None
        base = self.root.joinpath(*parts[1:])
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate in self.trees:
                return candidate
        return None

    def _imports(self, path: Path) -> tuple[dict[str, Key], dict[str, Path]]:
        """Names imported from test modules (``from tests.x import f``) and module aliases."""
        names: dict[str, Key] = {}
        modules: dict[str, Path] = {}
        for node in ast.walk(self.trees[path]):
            if isinstance(node, ast.ImportFrom) and node.module:
                source = self._module_file(node.module)
                for alias in node.names:
                    as_module = self._module_file(f"{node.module}.{alias.name}")
                    if as_module is not None:
                        modules[alias.asname or alias.name] = as_module
                    elif source is not None:
                        names[alias.asname or alias.name] = (source, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    found = self._module_file(alias.name)
                    if found is not None and alias.asname:
                        modules[alias.asname] = found
        return names, modules

    def _callees(
        self, path: Path, fn: AnyFunction, local: dict[str, AnyFunction]
    ) -> Iterator[tuple[Path, AnyFunction, dict[str, AnyFunction]]]:
        names, modules = self._imports(path)
        for node in _own_nodes(fn):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name):
                if func.id in local:
                    yield path, local[func.id], local
                elif (path, func.id) in self.functions:
                    yield path, self.functions[(path, func.id)], {}
                elif func.id in names and names[func.id] in self.functions:
                    source = names[func.id][0]
                    yield source, self.functions[names[func.id]], {}
            elif isinstance(func, ast.Attribute):
                owner = func.value
                if isinstance(owner, ast.Name) and owner.id in modules:
                    key = (modules[owner.id], func.attr)
                    if key in self.functions:
                        yield key[0], self.functions[key], {}
                    continue
                # a method of a test kit's object (the kit fixture, a server, an HF cache)
                for key in self.kit_methods.get(func.attr, []):
                    yield key[0], self.functions[key], {}

    def asserts(
        self, path: Path, fn: AnyFunction, local: dict[str, AnyFunction] | None = None
    ) -> bool:
        """Whether ``fn`` asserts, itself or through a function it calls."""
        if id(fn) in self._memo:
            return self._memo[id(fn)]
        self._memo[id(fn)] = False  # a recursion does not assert by itself
        nested = dict(local or {})
        nodes = list(_own_nodes(fn))
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                nested[node.name] = node
        found = any(_is_assertion(node) for node in nodes) or any(
            self.asserts(where, callee, scope)
            for where, callee, scope in self._callees(path, fn, nested)
        )
        self._memo[id(fn)] = found
        return found


def _test_functions(tree: ast.Module) -> Iterator[AnyFunction]:
    """The functions pytest collects: ``test*`` at module level and in ``Test*`` classes."""
    candidates: list[ast.stmt] = list(tree.body)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            candidates.extend(node.body)
    for node in candidates:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            yield node


def unasserted_tests(root: Path = TESTS) -> list[str]:
    """``path:line: name`` of every test function under ``root`` that asserts nothing."""
    index = _Index(root)
    found = []
    for path, tree in index.trees.items():
        if not path.name.startswith("test_"):
            continue
        for fn in _test_functions(tree):
            if not index.asserts(path, fn):
                found.append(f"{path.relative_to(root)}:{fn.lineno}: {fn.name}")
    return found


def test_every_test_asserts_something() -> None:
    assert len(_modules_in(TESTS)) > 20, "no test modules found"
    assert unasserted_tests() == []


@pytest.mark.parametrize(
    ("body", "flagged"),
    [
        ("def test_x():\n    run()\n", True),
        ("def test_x():\n    assert True\n", True),
        ("def test_x():\n    x = 1\n    assert x\n", False),
        ("def test_x():\n    with pytest.raises(ValueError):\n        run()\n", False),
        ("def test_x():\n    pytest.fail('no')\n", False),
        ("def test_x():\n    torch.testing.assert_close(a, b)\n", False),
        ("def test_x():\n    check_shapes(model)\n", False),
        ("def helper(m):\n    assert m\n\ndef test_x():\n    helper(1)\n", False),
        (
            "def inner(m):\n    assert m\n\ndef outer():\n    inner(2)\n\ndef test_x():\n    outer()\n",
            False,
        ),
        ("def helper(m):\n    return m\n\ndef test_x():\n    helper(1)\n", True),
        ("class TestA:\n    def test_x(self):\n        self.run()\n", True),
        ("class TestA:\n    def test_x(self):\n        assert self.run()\n", False),
        ("def test_x():\n    with raises(ValueError):\n        run()\n", True),
    ],
)
def test_the_checker_itself(tmp_path: Path, body: str, flagged: bool) -> None:
    (tmp_path / "test_sample.py").write_text(body)
    assert (unasserted_tests(tmp_path) != []) == flagged


@pytest.mark.parametrize(
    ("kit", "test", "flagged"),
    [
        (
            "def same(a, b):\n    assert a == b\n",
            "from tests.kit import same\n\ndef test_x():\n    same(1, 1)\n",
            False,
        ),
        (
            "def same(a, b):\n    assert a == b\n",
            "import tests.kit as k\n\ndef test_x():\n    k.same(1, 1)\n",
            False,
        ),
        (
            "def same(a, b):\n    return a == b\n",
            "from tests.kit import same\n\ndef test_x():\n    same(1, 1)\n",
            True,
        ),
        (
            "class Kit:\n    def same(self, a):\n        assert a\n",
            "def test_x(kit):\n    kit.same(1)\n",
            False,
        ),
        (
            "class Kit:\n    def load(self, a):\n        return a\n",
            "def test_x(kit):\n    kit.load(1)\n",
            True,
        ),
        # an asserting function of the same name elsewhere does not count
        ("def run():\n    assert 1 == 1\n", "def test_x():\n    run()\n", True),
    ],
)
def test_the_checker_follows_the_test_kit(
    tmp_path: Path, kit: str, test: str, flagged: bool
) -> None:
    root = tmp_path / "tests"
    root.mkdir()
    (root / "kit.py").write_text(kit)
    (root / "test_sample.py").write_text(test)
    assert (unasserted_tests(root) != []) == flagged
