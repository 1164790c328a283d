"""Readers of the deployment files (docker-compose.yml, deploy/) shared by their checks:
Compose interpolation, the metric names a PromQL expression reads, the queries of the
Grafana dashboards, the metric families a /metrics text declares."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"

_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}`` (unset or empty)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        if op == ":-":
            return current if current else arg
        if op == "-":
            return current if current is not None else arg
        if op in (":?", "?"):
            if not current if op == ":?" else current is None:
                raise KeyError(f"{name}: {arg}")
            return current or ""
        return current or ""

    return _REFERENCE.sub(one, value)


def reference_defaults(value: str) -> dict[str, str]:
    """Name -> default of each ``${NAME:-default}`` in ``value``."""
    return {m["name"]: m["arg"] for m in _REFERENCE.finditer(value) if m["op"] == ":-"}


def read_env_file(path: Path) -> dict[str, str]:
    answer: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            answer[name.strip()] = value
    return answer


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (parsed: a typo'd function or a bad
    expression raises)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__":
                    names.add(matcher.value)
            return
        for attribute in ("expr", "lhs", "rhs", "vector_selector", "param"):
            child = getattr(node, attribute, None)
            if child is not None and not isinstance(child, str | int | float):
                walk(child)
        for arg in getattr(node, "args", None) or ():
            walk(arg)

    walk(promql_parser.parse(expr))
    return names


def exported_names(metrics_text: str) -> set[str]:
    """Every sample name the families declared in a Prometheus text can carry."""
    names: set[str] = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind == "counter":
                names.update({name + "_total", name + "_created"})
            elif kind in ("histogram", "summary"):
                names.update({name + "_bucket", name + "_sum", name + "_count", name + "_created"})
    return names


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for panel in dashboard.get("panels", ()):
        yield panel
        yield from panel.get("panels", ())  # collapsed rows


def targets(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(panel title, datasource uid, query) of every query of a dashboard."""
    for panel in panels(dashboard):
        for target in panel.get("targets", ()):
            uid = (target.get("datasource") or panel.get("datasource") or {}).get("uid", "")
            query = target.get("expr") or target.get("rawSql") or ""
            yield panel.get("title", ""), uid, query


# Grafana's macros (grafana-postgresql-datasource) as the server receives them.
_MACROS = (
    (re.compile(r"\$__timeFilter\(([^)]+)\)"), r"\1 BETWEEN '2026-01-01T00:00:00Z' AND '2026-04-01T00:00:00Z'"),
    (re.compile(r"\$__timeFrom\(\)"), "'2026-01-01T00:00:00Z'"),
    (re.compile(r"\$__timeTo\(\)"), "'2026-04-01T00:00:00Z'"),
)


def grafana_sql(query: str, variables: Mapping[str, str]) -> str:
    """A panel's SQL as Grafana sends it: macros expanded, ``$var`` and ``${var:...}`` replaced."""
    for pattern, replacement in _MACROS:
        query = pattern.sub(replacement, query)
    for name, value in variables.items():
        query = re.sub(r"\$\{" + name + r"(:[a-z]+)?\}|\$" + name + r"\b", value, query)
    if "$" in query:
        raise AssertionError(f"unexpanded Grafana variable or macro in: {query}")
    return query
