"""``faust -A app schemas list|show|check``: the Avro schemas the processor knows.

``check FILE`` compares a candidate ``.avsc`` with the subject's latest version (named by
``--subject``, default: the candidate's record name): whether it reads the data already
written (backward) and whether consumers still on the latest read its data (forward),
every problem named, and whether the subject's mode would register it (exit 0) or not
(exit 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import click
from faust.cli import option
from faust.cli.base import argument, cli

from app.commands.base import ToolCommand
from app.commands.exceptions import NothingMatched, ToolError
from app.main import app
from models.avro.exceptions import SchemaError
from models.avro.registry import CompatibilityReport, default_registry, load_schema_file

__all__ = ["schemas_group"]


@cli.group(name="schemas")
def schemas_group() -> None:
    """Avro schemas: list, show, check (`faust -A app schemas COMMAND --help`)."""


class SchemasCommand(ToolCommand):
    abstract: ClassVar[bool] = True
    group = schemas_group


@app.command(base=SchemasCommand, command_name="list")
async def schemas_list(self: SchemasCommand) -> int:
    """List every subject with its versions, schema ids and compatibility mode."""
    registry = default_registry()
    for subject in registry.subjects():
        for registered in registry.versions(subject):
            fields = registered.schema.get("fields", [])
            self.out(
                f"{subject}\tv{registered.version}\tid {registered.schema_id}\t"
                f"{len(fields)} top-level fields\tmode {registry.mode(subject)}"
            )
    return 0


@app.command(
    argument("subject"),
    option("--version", "version", type=click.IntRange(min=1), default=None, help="Default: the latest."),
    base=SchemasCommand,
    command_name="show",
)
async def schemas_show(self: SchemasCommand, subject: str, version: int | None) -> int:
    """Print one schema version as JSON (the latest unless --version)."""
    registry = default_registry()
    try:
        registered = registry.latest(subject) if version is None else registry.get(subject, version)
    except SchemaError as exc:
        raise NothingMatched(str(exc)) from None
    self.note(f"{subject} v{registered.version} (schema id {registered.schema_id})")
    self.out(json.dumps(registered.schema, indent=2))
    return 0


def describe(report: CompatibilityReport, latest: int) -> list[str]:
    """The lines ``schemas check`` prints for ``report``."""
    lines = [f"{report.subject}: candidate against v{latest} under {report.mode}"]
    for direction, problems, meaning in (
        ("backward", report.backward, "reads data written with the registered versions"),
        ("forward", report.forward, "registered versions read the candidate's data"),
    ):
        verdict = "compatible" if not problems else "INCOMPATIBLE"
        lines.append(f"  {direction}: {verdict} ({meaning})")
        lines += [f"    - {problem}" for problem in problems]
    lines.append(f"  register: {'accepted' if report.accepted else 'refused'} under {report.mode}")
    return lines


@app.command(
    argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path)),
    option("--subject", default=None, help="Default: the candidate's record name."),
    base=SchemasCommand,
    command_name="check",
)
async def schemas_check(self: SchemasCommand, file: Path, subject: str | None) -> int:
    """Check a candidate .avsc against the latest registered version; exit 1 if refused."""
    registry = default_registry()
    try:
        candidate = load_schema_file(file)
        subject = subject or str(candidate["name"]).rsplit(".", 1)[-1]
        latest = registry.latest(subject)
        report = registry.check(subject, candidate)
    except SchemaError as exc:
        raise ToolError(str(exc)) from None
    for line in describe(report, latest.version):
        self.out(line)
    return 0 if report.accepted else 1
