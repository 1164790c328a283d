"""``faust -A app topics list|create|check``: the topics the app uses, against the broker.

Every source topic, output topic and table changelog, with the partitions it needs
(TOPIC_PARTITIONS) and what the broker has. ``create`` creates the missing ones as the
worker would (app.topic_declaration); run it before producing anything, so that no
producer auto-creates a topic with the broker's default count. ``check`` and ``create``
exit 1 when a topic is missing or has another count: for scripts.
"""

from __future__ import annotations

import json
from typing import ClassVar

from aiokafka.errors import KafkaError
from faust.cli.base import cli

from app.commands.base import ToolCommand
from app.commands.exceptions import ToolError
from app.main import app, settings
from app.topic_declaration import declare_topics, topic_specs
from app.topic_plan import TopicCheck, TopicVerdict, verdict

__all__ = ["topics_group"]


@cli.group(name="topics")
def topics_group() -> None:
    """Topics the app uses: list, create, check (`faust -A app topics COMMAND --help`)."""


class TopicsCommand(ToolCommand):
    abstract: ClassVar[bool] = True
    group = topics_group


def check_line(check: TopicCheck) -> str:
    """One topic as ``topics list`` prints it."""
    found = "-" if check.found is None else str(check.found)
    return f"{check.spec.name:<60} {check.spec.role:<9} {check.spec.partitions:>6} {found:>6}  {check.state}"


async def _declare(create: bool) -> tuple[TopicVerdict, list[TopicCheck], list[str]]:
    specs = topic_specs(app, settings.topic_partitions)
    try:
        checks, created = await declare_topics(
            settings.bootstrap_servers, specs, replication=app.conf.topic_replication_factor, create=create
        )
    except (KafkaError, OSError) as exc:
        raise ToolError(
            f"cannot reach the broker at {','.join(settings.bootstrap_servers)} (KAFKA_BROKERS): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    return verdict(checks), checks, created


def _summary(self: TopicsCommand, result: TopicVerdict) -> int:
    for check in result.mismatched:
        self.note(f"{check.spec.name}: {check.problem()['fix']}")
    if result.missing:
        self.note(f"{len(result.missing)} topic(s) missing: create them with `faust -A app topics create`")
    if result.all_verified:
        self.note("every topic is there with its partition count")
        return 0
    return 1


@app.command(base=TopicsCommand, command_name="list")
async def topics_list(self: TopicsCommand) -> int:
    """Every topic the app uses: role, partitions needed, partitions found, state."""
    result, checks, _ = await _declare(create=False)
    if self.json:
        self.out(
            json.dumps(
                [
                    {
                        "topic": c.spec.name,
                        "role": c.spec.role,
                        "partitions_needed": c.spec.partitions,
                        "partitions_found": c.found,
                        "state": c.state,
                    }
                    for c in checks
                ],
                indent=2,
            )
        )
    else:
        self.out(f"{'topic':<60} {'role':<9} {'needs':>6} {'found':>6}  state")
        for check in checks:
            self.out(check_line(check))
    return 0


@app.command(base=TopicsCommand, command_name="check")
async def topics_check(self: TopicsCommand) -> int:
    """Exit 0 when every topic exists with its partition count, 1 otherwise (and say what differs)."""
    result, checks, _ = await _declare(create=False)
    for check in checks:
        if check.state != "ok":
            self.out(check_line(check))
    return _summary(self, result)


@app.command(base=TopicsCommand, command_name="create")
async def topics_create(self: TopicsCommand) -> int:
    """Create the missing topics with their partition counts; exit 1 if any differs afterwards."""
    result, _, created = await _declare(create=True)
    for name in created:
        self.out(f"created {name}")
    return _summary(self, result)
