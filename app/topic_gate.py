"""What topic declaration found, as the views need it: /health, /health/ready, POST /ingest.

app.topic_declaration fills it in as the worker starts (app.topic_plan says what each
finding means); nothing may be produced to a topic before it is verified.
"""

from __future__ import annotations

from typing import Any, Literal

from app.topic_plan import TopicVerdict

__all__ = ["RETRY_AFTER_S", "TopicGate"]

RETRY_AFTER_S = 5


class TopicGate:
    """What declaration found, for /health, /health/ready and POST /ingest."""

    def __init__(self) -> None:
        self.verdict: TopicVerdict | None = None
        self.error: str | None = None  # why the last declaration round failed

    @property
    def state(self) -> Literal["declaring", "verified", "mismatch", "blocked"]:
        v = self.verdict
        if v is None or v.missing:
            return "declaring"
        if v.blocking:
            return "blocked"
        return "mismatch" if v.mismatched else "verified"

    def usable(self, topic: str) -> bool:
        """Whether ``topic`` is declared with its count and the worker consumes (or may
        produce to) it."""
        v = self.verdict
        return v is not None and v.may_consume and all(c.spec.name != topic for c in v.mismatched)

    def refusal(self, topic: str) -> str | None:
        """Why nothing may be produced to ``topic`` now (None: it may)."""
        if self.usable(topic):
            return None
        v = self.verdict
        for check in v.mismatched if v is not None else ():
            if check.spec.name == topic:
                return f"topic {topic!r} has {check.found} partitions, not {check.spec.partitions}: {check.problem()['fix']}"
        if v is not None and v.blocking:
            names = ", ".join(c.spec.name for c in v.blocking)
            return f"the worker consumes nothing until these changelogs are fixed (see /health): {names}"
        return f"the worker is starting: topic {topic!r} is not verified yet; retry in {RETRY_AFTER_S} s"

    def report(self) -> dict[str, Any]:
        """The ``topics`` part of /health."""
        body: dict[str, Any] = {"state": self.state}
        if self.verdict is not None and self.verdict.mismatched:
            body["problems"] = [c.problem() for c in self.verdict.mismatched]
        if self.verdict is not None and self.verdict.missing:
            body["missing"] = list(self.verdict.missing)
        if self.error is not None:
            body["error"] = self.error
        return body
