"""The exception trees drawn in app/exceptions.py and models/exceptions.py are the classes
as they are: each drawn child subclasses its drawn parent, and every public exception class
of the package is drawn."""

from __future__ import annotations

import ast
import builtins
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILTIN_ERRORS = {
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
}
# Where the drawn classes live (the drawing names each one's module).
MODULES = {
    "app": ["app.exceptions", "app.settings", "app.ingest_api", "app.views.params", "app.commands.exceptions", "app.ml_engine"],
    "models": ["models.exceptions", "models.decoding", "models.avro.compiled", "models.avro.exceptions"],
}


def drawn_edges(docstring: str) -> list[tuple[str, str]]:
    """(parent, child) for each line of a box-drawn tree; a level is four characters wide."""
    edges: list[tuple[str, str]] = []
    stack: list[str] = []
    for line in docstring.splitlines():
        branch = re.search(r"[├└]── (\w+)", line)
        if branch:
            level = branch.start() // 4 + 1
            del stack[level:]
            edges.append((stack[level - 1], branch.group(1)))
            stack.append(branch.group(1))
        elif re.match(r"^\w+(Error|Exception)\b", line) and not stack:
            stack = [line.split()[0]]
    return edges


def public_exception_classes(package: str) -> set[str]:
    """Names of the package's public classes that derive (in its source) from an exception."""
    classes = [
        node
        for path in (ROOT / package).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    ]
    found: set[str] = set()
    while True:
        more = {
            c.name
            for c in classes
            if any(getattr(b, "id", getattr(b, "attr", None)) in BUILTIN_ERRORS | found for b in c.bases)
        }
        if more <= found:
            return {name for name in found if not name.startswith("_")}
        found |= more


def resolve(package: str, name: str) -> type:
    if name in BUILTIN_ERRORS:
        return getattr(builtins, name)
    for module in MODULES[package]:
        cls = getattr(importlib.import_module(module), name, None)
        if isinstance(cls, type):
            return cls
    raise AssertionError(f"{name} is drawn but found in none of {MODULES[package]}")


@pytest.mark.parametrize("package", ["app", "models"])
def test_the_drawn_tree_is_the_class_tree(package: str) -> None:
    edges = drawn_edges(importlib.import_module(f"{package}.exceptions").__doc__ or "")
    assert edges, f"{package}/exceptions.py draws no tree"
    wrong = [
        f"{child} is drawn under {parent}"
        for parent, child in edges
        if resolve(package, parent) not in resolve(package, child).__bases__
    ]
    assert wrong == []


@pytest.mark.parametrize("package", ["app", "models"])
def test_every_exception_class_of_the_package_is_drawn(package: str) -> None:
    edges = drawn_edges(importlib.import_module(f"{package}.exceptions").__doc__ or "")
    drawn = {child for _, child in edges} | {parent for parent, _ in edges}
    assert sorted(public_exception_classes(package) - drawn) == []


def test_the_avro_drawing_is_true() -> None:
    from models.avro import exceptions

    edges = drawn_edges(exceptions.__doc__ or "")
    assert ("SchemaError", "AvroDecodeError") in edges
    assert [(p, c) for p, c in edges if resolve("models", p) not in resolve("models", c).__bases__] == []
