"""The package's import structure, read from its source: no import cycles, sub-packages that
say what they hold, models that do not reach into weights, and an ``import reskeras`` that
costs nothing (no Keras, no TensorFlow, no change to the environment)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

from support import REPO

PACKAGE = REPO / "reskeras"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package from its source tree: dotted name -> file."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST):
    """Every node that can run: function and class bodies included, ``if TYPE_CHECKING:``
    blocks (annotations only, never executed) left out."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_names(name: str, path: Path) -> set[str]:
    """The dotted names a module imports: ``import a.b`` names ``a.b``; ``from a import b``
    names ``a.b`` where that is a module of the package, else ``a``; relative imports are
    resolved against the module's package; so are ``importlib.import_module("literal")``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = modules()
    names = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                names.add(candidate if candidate in known else base)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def _resolve(imported: str) -> str | None:
    """The package module an imported name refers to (the longest known prefix), if any."""
    known = modules()
    parts = imported.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


@cache
def import_graph() -> dict[str, frozenset[str]]:
    """module -> the package modules it imports (edges to the exact module named)."""
    graph = {}
    for name, path in modules().items():
        targets = {_resolve(n) for n in imported_names(name, path) if n.split(".")[0] == "reskeras"}
        graph[name] = frozenset(t for t in targets if t is not None and t != name)
    return graph


def find_cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """One cycle (as a path that ends where it starts) for every strongly connected component
    with more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(component)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, frozenset[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first search)."""
    start = min(component)
    parents, frontier = {start: None}, [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & component):
                if child == start:
                    path = [node]
                    while parents[path[-1]] is not None:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if child not in parents:
                    parents[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert "reskeras" in graph and "reskeras.models.image" in graph
    assert len(graph) == len(list(PACKAGE.rglob("*.py")))
    # The cycle finder itself, on a made-up graph.
    fake = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset()}
    assert find_cycles(fake) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": frozenset({"b"}), "b": frozenset()}) == []


def test_no_import_cycles():
    cycles = [" -> ".join(cycle) for cycle in find_cycles(import_graph())]
    assert not cycles, "import cycles:\n  " + "\n  ".join(cycles)


def test_models_never_import_weights():
    # Builders hand ``weights=`` over through reskeras.models.handoff, which reskeras.weights
    # fills in when it is imported: models must not depend on weights.
    offenders = {
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        if module == "reskeras.models" or module.startswith("reskeras.models.")
        for target in targets
        if target == "reskeras.weights" or target.startswith("reskeras.weights.")
    }
    assert not offenders, sorted(offenders)


def test_every_sub_package_says_what_it_holds_in_one_line():
    packages = [p for p in sorted(PACKAGE.rglob("__init__.py")) if p.parent != PACKAGE]
    assert packages
    problems = []
    for init in packages:
        name = module_name(init)
        doc = ast.get_docstring(ast.parse(init.read_text()))
        if not doc:
            problems.append(f"{name}: no docstring")
            continue
        lines = doc.splitlines()
        # PEP 257: a one-line summary, then a blank line before any more.
        if not lines[0].strip() or (len(lines) > 1 and lines[1].strip()):
            problems.append(f"{name}: the summary is not one line: {lines[:2]}")
        elif len(lines[0]) > 100 or not lines[0].rstrip().endswith("."):
            problems.append(f"{name}: the summary line should be a sentence within 100 chars")
    assert not problems, "\n".join(problems)


def test_import_reskeras_is_free(tmp_path):
    code = (
        "import json, os, sys\n"
        "before = dict(os.environ)\n"
        "import reskeras\n"
        "after = dict(os.environ)\n"
        "changed = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow'))\n"
        "print(json.dumps({'changed': changed, 'heavy': heavy}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["heavy"] == [], "import reskeras imported " + ", ".join(report["heavy"][:10])
    assert report["changed"] == [], f"import reskeras changed os.environ: {report['changed']}"


def test_every_module_that_registers_classes_is_listed():
    from reskeras.serializable import SERIALIZABLE_MODULES

    def registers(path: Path) -> bool:
        return any(
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) == "register_keras_serializable"
            for node in ast.walk(ast.parse(path.read_text()))
        )

    registering = sorted(name for name, path in modules().items() if registers(path))
    assert sorted(SERIALIZABLE_MODULES) == registering
