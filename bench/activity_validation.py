"""`python -m bench.activity_validation`: the CPU the re-keying reader spends per message to
decode and validate ``user-activity-events``, by ActivityMessage (pydantic, as
agents.acceptance does it) and by the fast path (agents.activity_change.plain_change, with
ActivityMessage for what it leaves), side by side, on the messages bench.activity sends.

Both read the same bytes (``--events`` of devtools.activity_history, malformed ones
included) in the same order; each is run ``--rounds`` times and its best round is kept.
CPU time is the process's (a busy machine does not inflate it). The two paths' changes and
rejections are compared: a difference fails the run.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable, Sequence

from agents.activity_change import change_of, plain_change
from agents.intake import Parsed, Rejection, parse_message
from devtools.activity_history import ActivityPlan, generate_activity_history
from models.activity import ActivityMessage
from models.decoding import decode_json_object
from tables.activity_state import ActivityChange

Outcome = ActivityChange | str  # the change, or the rejection's reason


def pydantic_path(raw: bytes) -> Outcome:
    """What agents.acceptance gives (strict mode, any key)."""
    parsed: Parsed[ActivityMessage] | Rejection = parse_message(raw, ActivityMessage, "strict")
    return parsed.reason if isinstance(parsed, Rejection) else change_of(parsed.event)


def plain_only(raw: bytes) -> ActivityChange | None:
    """The fast path alone (agents.activity_change.plain_event_change)."""
    try:
        return plain_change(decode_json_object(raw).value)
    except Exception:
        return None


def fast_path(raw: bytes) -> Outcome:
    """What the re-keying reader does now: the fast path, else the pydantic path."""
    change = plain_only(raw)
    return change if change is not None else pydantic_path(raw)


def decode_only(raw: bytes) -> Outcome:
    """The JSON decode alone, which both paths include (for reference)."""
    try:
        decode_json_object(raw)
    except Exception as exc:
        return type(exc).__name__
    return ""


def best_cpu(
    paths: Sequence[Callable[[bytes], Outcome]], values: Sequence[bytes], rounds: int
) -> list[tuple[float, list[Outcome]]]:
    """For each of ``paths``: the least CPU seconds of ``rounds`` passes over ``values``, and
    its outcomes. The paths take turns in every round: a machine busy for a while slows all."""
    best: list[tuple[float, list[Outcome]]] = [(float("inf"), []) for _ in paths]
    for _ in range(rounds):
        for index, path in enumerate(paths):
            gc.collect()
            started = time.process_time()
            outcomes = [path(raw) for raw in values]
            seconds = time.process_time() - started
            if seconds < best[index][0]:
                best[index] = (seconds, outcomes)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=4.0, help="event-time span of the history")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    plan = ActivityPlan(events=args.events, users=args.users, span_s=int(args.hours * 3600))
    values = [item.value for item in generate_activity_history(plan).sent]
    (decode_s, _), (old_s, old), (new_s, new) = best_cpu(
        [decode_only, pydantic_path, fast_path], values, args.rounds
    )
    if old != new:
        differing = sum(a != b for a, b in zip(old, new, strict=True))
        raise SystemExit(f"the two paths differ on {differing} of {len(values)} messages")
    plain = sum(1 for raw in values if plain_only(raw) is not None)
    rejected = sum(isinstance(outcome, str) for outcome in old)
    count = len(values)
    print(
        f"{count:,} messages ({plain:,} of the common shape, {rejected:,} rejected), best of {args.rounds} rounds"
    )
    print(f"{'path':<38} {'CPU µs/message':>15} {'messages/s (1 core)':>20}")
    for name, seconds in (
        ("JSON decode alone (both include it)", decode_s),
        ("ActivityMessage (before)", old_s),
        ("plain_change, else ActivityMessage", new_s),
    ):
        print(f"{name:<38} {seconds / count * 1e6:>15.2f} {count / seconds:>20,.0f}")
    print(
        f"validation beyond the decode: {(old_s - decode_s) / count * 1e6:.2f} -> {(new_s - decode_s) / count * 1e6:.2f} µs"
    )
    print("outcomes equal: yes")


if __name__ == "__main__":
    main()
