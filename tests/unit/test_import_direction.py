"""Imports run one way: models and runtime at the bottom, then the app's wiring, tables,
stores, agents, and the app's views and commands on top; nothing shipped imports
development tools.

Read from the source (ast), not by importing, so a lazy import inside a function counts,
and nothing here builds the Faust app.

The app package holds two layers. Its wiring (the one ``faust.App``, settings, logging,
the database, cache and metrics clients, topics) is what tables and agents register on
(``app.Table``, ``@app.agent``), so it sits below them and imports none of them: Faust
finds agents, tables and views by name (``autodiscover`` in app.main). Its views and
commands sit on top and may read any layer. Stores (a table family's database rows: upserts,
reads and the row mapping) sit between the tables, whose state they map to rows, and the
agents and views that write and read them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("models", "runtime", "app", "tables", "stores", "agents")
TOOLING = ("devtools", "tests", "bench")
# The app modules above tables, stores and agents: HTTP views and CLI commands.
APP_TOP = ("app.views", "app.commands")

# The layers each layer may import (its own included).
MAY_IMPORT: dict[str, frozenset[str]] = {
    "models": frozenset({"models"}),
    "runtime": frozenset({"runtime"}),
    "app wiring": frozenset({"models", "runtime", "app wiring"}),
    "tables": frozenset({"models", "runtime", "app wiring", "tables"}),
    "stores": frozenset({"models", "runtime", "app wiring", "tables", "stores"}),
    "agents": frozenset({"models", "runtime", "app wiring", "tables", "stores", "agents"}),
    "app views/commands": frozenset(
        {"models", "runtime", "app wiring", "tables", "stores", "agents", "app views/commands"}
    ),
}


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer_of(module: str) -> str | None:
    """The layer of one of our modules; None for tooling and third-party modules."""
    top = module.split(".")[0]
    if top == "app":
        return "app views/commands" if any(within(module, p) for p in APP_TOP) else "app wiring"
    if top in SHIPPED:
        return top
    return None


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, module) for every import statement, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from app import demo_report` may name a module of the package: judge the
            # longest name (an attribute of a module is in that module's layer anyway).
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def upward_imports(root: Path) -> list[str]:
    """Every import against the layer order, as ``path:line: importer -> imported``."""
    found = []
    for top in (*SHIPPED, *TOOLING):
        for path in sorted((root / top).rglob("*.py")):
            if any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(root).parts):
                continue
            module = module_name(path, root)
            importer = layer_of(module)
            if importer is None:
                continue  # tooling and tests may import anything
            for line, target in imported_modules(path.read_text(), module, path.name == "__init__.py"):
                target_top = target.split(".")[0]
                if target_top in TOOLING:
                    found.append(f"{path.relative_to(root)}:{line}: {module} -> {target} (not shipped)")
                    continue
                imported = layer_of(target)
                if imported is not None and imported not in MAY_IMPORT[importer]:
                    found.append(f"{path.relative_to(root)}:{line}: {module} ({importer}) -> {target} ({imported})")
    return sorted(set(found))


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert upward_imports(ROOT) == []


@pytest.mark.parametrize(
    ("importer", "source", "expected"),
    [
        ("runtime/transport.py", "from app.logging import get_logger\n", "runtime.transport (runtime) -> app.logging"),
        ("runtime/coalesced.py", "from tables.keys import compose_key\n", "runtime.coalesced (runtime) -> tables.keys.compose_key (tables)"),
        ("models/orm.py", "from tables.instants import to_micros\n", "models.orm (models) -> tables.instants"),
        ("tables/dora.py", "import agents.git\n", "tables.dora (tables) -> agents.git (agents)"),
        ("agents/commits.py", "def f():\n    from app.views.commits import x\n", "agents.commits (agents) -> app.views.commits.x (app views/commands)"),
        ("app/main.py", "from tables.table import keyed_table\n", "app.main (app wiring) -> tables.table.keyed_table (tables)"),
        ("app/db.py", "from agents import git\n", "app.db (app wiring) -> agents.git (agents)"),
        ("stores/cicd.py", "from agents.cicd import x\n", "stores.cicd (stores) -> agents.cicd.x (agents)"),
        ("tables/cicd.py", "from stores.cicd import x\n", "tables.cicd (tables) -> stores.cicd.x (stores)"),
        ("app/views/x.py", "from devtools.localstack import LocalStack\n", "app.views.x -> devtools.localstack.LocalStack (not shipped)"),
        ("tables/sub/x.py", "from ...agents import git\n", "tables.sub.x (tables) -> agents.git (agents)"),
    ],
)
def test_an_upward_import_is_found(tmp_path: Path, importer: str, source: str, expected: str) -> None:
    path = tmp_path / importer
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    found = upward_imports(tmp_path)
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(
    ("importer", "source"),
    [
        ("agents/commits.py", "from app.main import app\nfrom tables.commits import commit_days\n"),
        ("tables/table.py", "from app.main import app\nfrom runtime.coalesced import CoalescedTable\n"),
        ("app/views/dora.py", "from tables.cicd import x\nfrom agents.intake import y\n"),
        ("app/main.py", "from runtime.monitor import LeanMonitor\nfrom models.timescale import m\n"),
        ("devtools/demo.py", "from app.main import app\nfrom agents.git import x\n"),
        ("tests/unit/test_x.py", "from devtools.localstack import LocalStack\n"),
        ("runtime/transport.py", "import faust\nfrom runtime.drain import LeanDrain\n"),
    ],
)
def test_a_downward_import_passes(tmp_path: Path, importer: str, source: str) -> None:
    path = tmp_path / importer
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    assert upward_imports(tmp_path) == []
