"""docs/openapi.yaml describes every view the workers serve, and only those.

The routes are read from the source (``@app.page("...")`` on a View class in app/views/*.py,
and the HTTP methods the class defines), not from a running app, so the test needs no
settings or broker. A view added, removed or given another method without the description
following fails here.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "openapi.yaml"
VIEWS = ROOT / "app" / "views"
HTTP_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})


def load_spec(path: Path = SPEC) -> dict[str, Any]:
    """The description as data: PyYAML when installed, else JSON (the file is written as
    JSON, which is YAML 1.2, so it reads without a YAML library)."""
    text = path.read_text(encoding="utf-8")
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return json.loads(text)
    return yaml.safe_load(text)


def _page_path(decorator: ast.expr) -> str | None:
    """``"/x"`` for an ``@app.page("/x")`` decorator, None for anything else."""
    if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
        return None
    if decorator.func.attr != "page" or not decorator.args:
        return None
    first = decorator.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def view_routes(views: Path = VIEWS) -> dict[str, set[str]]:
    """Every ``@app.page`` path in ``views`` -> the HTTP methods its class defines."""
    routes: dict[str, set[str]] = {}
    for module in sorted(views.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"), str(module))):
            if not isinstance(node, ast.ClassDef):
                continue
            for decorator in node.decorator_list:
                path = _page_path(decorator)
                if path is None:
                    continue
                methods = {
                    item.name
                    for item in node.body
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name in HTTP_METHODS
                }
                assert path not in routes, f"{path} registered twice ({module.name})"
                routes[path] = methods
    return routes


def view_statuses(views: Path = VIEWS) -> dict[str, set[str]]:
    """Every ``@app.page`` path -> the status codes its class names itself: ``status=NNN``
    literals in its body, and 400 and 503 for a view routed by ``routed_by_source_key``
    (a key that is not UTF-8; no owner, a restoring owner, an owner that does not answer)."""
    statuses: dict[str, set[str]] = {}
    for module in sorted(views.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"), str(module))):
            if not isinstance(node, ast.ClassDef):
                continue
            paths = [p for p in map(_page_path, node.decorator_list) if p is not None]
            if not paths:
                continue
            codes = {
                str(keyword.value.value)
                for call in ast.walk(node)
                if isinstance(call, ast.Call)
                for keyword in call.keywords
                if keyword.arg == "status"
                and isinstance(keyword.value, ast.Constant)
                and isinstance(keyword.value.value, int)
            }
            routed = any(
                isinstance(d, ast.Call)
                and isinstance(d.func, ast.Name)
                and d.func.id == "routed_by_source_key"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                for d in item.decorator_list
            )
            if routed:
                codes |= {"400", "503"}
            for path in paths:
                statuses[path] = codes
    return statuses


def documented_routes(spec: dict[str, Any]) -> dict[str, set[str]]:
    return {path: set(item) & HTTP_METHODS for path, item in spec["paths"].items()}


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A ``$ref``'d component, or the node itself."""
    ref = node.get("$ref")
    if ref is None:
        return node
    target: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


def test_the_views_are_found_in_the_source() -> None:
    routes = view_routes()
    # A parser that found nothing would make every comparison below pass.
    assert len(routes) >= 15
    assert routes["/ingest"] == {"post"}
    assert routes["/health"] == {"get"}


def test_it_is_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"]


def test_every_view_is_described_with_its_methods(spec: dict[str, Any]) -> None:
    routes, documented = view_routes(), documented_routes(spec)
    missing = {path: sorted(methods) for path, methods in routes.items() if path not in documented}
    assert not missing, f"views missing from docs/openapi.yaml: {missing}"
    wrong = {
        path: (sorted(methods), sorted(documented[path]))
        for path, methods in routes.items()
        if documented[path] != methods
    }
    assert not wrong, f"methods differ (view, described): {wrong}"


def test_nothing_is_described_that_no_view_serves(spec: dict[str, Any]) -> None:
    extra = sorted(set(documented_routes(spec)) - set(view_routes()))
    assert not extra, f"docs/openapi.yaml describes paths no view serves: {extra}"


def test_every_status_a_view_names_is_described(spec: dict[str, Any]) -> None:
    statuses = view_statuses()
    assert statuses["/commits/{repository_id}/daily"] >= {"400", "404", "503"}  # the parser works
    undocumented = {}
    for path, codes in statuses.items():
        item = spec["paths"][path]
        described = {code for method in set(item) & HTTP_METHODS for code in item[method]["responses"]}
        if missing := codes - described:
            undocumented[path] = sorted(missing)
    assert not undocumented, f"status codes the views answer but docs/openapi.yaml omits: {undocumented}"


def test_path_parameters_match_the_route_template(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        in_template = set(re.findall(r"\{([^}]+)\}", path))
        for method in set(item) & HTTP_METHODS:
            parameters = [_resolve(spec, p) for p in item[method].get("parameters", [])]
            declared = {p["name"] for p in parameters if p["in"] == "path"}
            assert declared == in_template, f"{method.upper()} {path}: path parameters {sorted(declared)}"
            assert all(p.get("required") for p in parameters if p["in"] == "path"), path


def test_every_operation_answers_something_and_every_reference_resolves(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        for method in set(item) & HTTP_METHODS:
            responses = item[method]["responses"]
            assert responses, f"{method.upper()} {path} has no responses"
            assert any(code.startswith("2") for code in responses), f"{method.upper()} {path}: no 2xx"
    for ref in _refs(spec):
        assert ref.startswith("#/"), ref
        _resolve(spec, {"$ref": ref})  # KeyError names a dangling reference


def test_a_view_added_without_its_description_is_caught(tmp_path: Path, spec: dict[str, Any]) -> None:
    (tmp_path / "extra.py").write_text(
        'from app.main import app\n\n@app.page("/new/{thing}")\nclass New(View):\n'
        "    async def get(self, request, thing):\n        ...\n",
        encoding="utf-8",
    )
    routes = view_routes(tmp_path)
    assert routes == {"/new/{thing}": {"get"}}
    assert "/new/{thing}" not in documented_routes(spec)
