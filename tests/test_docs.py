"""The docs tell the truth about the code: the package map, Args sections, a short README, and
recipes looked up in one place."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from support import REPO

PACKAGE = REPO / "reskeras"
# Keras overrides and callback hooks document themselves (Keras' own docs).
OVERRIDES = {
    "build", "call", "compute_output_shape", "compute_output_spec", "get_config", "from_config",
    "compute_mask",
}  # fmt: skip


def _package_map() -> set[str]:
    """The files CONTRIBUTING.md's package map lists, as paths under the repository."""
    text = (REPO / "CONTRIBUTING.md").read_text()
    block = text[text.index("## The package map") :].split("```")[1]
    paths, parents = set(), []  # (indent, folder) of the folders the current line sits in
    for line in block.splitlines():
        match = re.match(r"^( *)([\w.]+/|\w+\.py)(\s|$)", line)
        if not match:
            continue
        indent, name = len(match[1]), match[2]
        parents = [(i, f) for i, f in parents if i < indent]
        if name.endswith("/"):
            parents.append((indent, name))
        else:
            paths.add("".join(f for _, f in parents) + name)
    return paths


def test_the_package_map_lists_every_module():
    modules = {str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py")}
    assert _package_map() == modules


def test_the_readme_is_a_front_page():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 250, len(lines)


def _undocumented(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []

    def check(fn: ast.FunctionDef, owner: ast.ClassDef | None = None) -> None:
        if (fn.name.startswith("_") and fn.name != "__init__") or fn.name in OVERRIDES:
            return
        if fn.name.startswith("on_") and owner is not None:  # Keras callback hooks
            return
        params = [a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]]
        params = [p for p in params if p not in ("self", "cls")]
        params += [a.arg for a in (fn.args.vararg, fn.args.kwarg) if a is not None]
        if not params:
            return
        doc = ast.get_docstring(fn) or ""
        if fn.name == "__init__" and owner is not None:
            doc = (ast.get_docstring(owner) or "") + doc
        missing = [p for p in params if not re.search(rf"^\s+\**{p}:", doc, re.M)]
        if "Args:" not in doc or missing:
            where = f"{owner.name}.{fn.name}" if owner else fn.name
            found.append(f"{path.relative_to(REPO)}:{fn.lineno} {where} {missing}")

    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            check(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef):
                    check(sub, node)
    return found


def test_every_public_function_documents_its_arguments():
    missing = [line for path in sorted(PACKAGE.rglob("*.py")) for line in _undocumented(path)]
    assert not missing, "\n".join(missing)


def test_recipes_are_looked_up_only_where_defaults_are_decided():
    lookups = [
        f"{path.relative_to(REPO)}:{i}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"RECIPES\[|RECIPES\.get\(|\bdefault_lr\(|WEIGHT_DECAY\[", line)
    ]
    assert all(where.startswith("reskeras/training/recipes.py:") for where in lookups), lookups
