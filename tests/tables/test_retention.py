"""tables.retention: what a repository's state may forget at a cutoff, open items kept."""

from __future__ import annotations

from tables.commit_state import Commit
from tables.deployment_state import Deployment
from tables.incident_state import Incident
from tables.pull_request_state import PullRequest
from tables.retention import ageing_due, cutoff_day, cutoff_micros, plan_ageing

DAY = 86_400_000_000
CUTOFF = 100 * DAY
PROD = {"production"}


def deploy(name: str, day: float, shas: tuple[str, ...] | None = None) -> Deployment:
    return Deployment("r", name, "production", "success", int(day * DAY), commit_shas=shas)


def test_old_done_entries_go_open_and_recent_ones_stay() -> None:
    plan = plan_ageing(
        [deploy("old", 10), deploy("new", 150), deploy("listing", 20, ("a",))],
        [
            Incident("r", "resolved-old", 5 * DAY, 6 * DAY),
            Incident("r", "open-old", 5 * DAY, None),
            Incident("r", "resolved-new", 5 * DAY, 120 * DAY),
        ],
        [
            Commit("r", "a", 1 * DAY),  # shipped by "old" (listed again by "listing"), old: goes
            Commit("r", "b", 2 * DAY),  # shipped by the old implicit deployment: goes
            Commit("r", "late", 140 * DAY),  # shipped by "new": stays
            Commit("r", "pr7", 3 * DAY, pull_request_number=7),  # of an open pull request: stays
        ],
        [
            PullRequest("r", 5, created_at=2 * DAY, closed_at=3 * DAY),  # closed unmerged, old: goes
            PullRequest("r", 7, created_at=2 * DAY),  # open: stays, and its commit with it
        ],
        cutoff=CUTOFF,
        production_environments=PROD,
    )
    assert plan.incidents == {"resolved-old"}
    assert plan.pull_requests == {5}
    assert plan.commits == {"a", "b"}
    # "old" shipped pr7's commit (implicitly, before "listing"): kept with it, so no later
    # deployment ships that commit a second time.
    assert plan.deployments == {"listing"}


def test_an_unshipped_old_commit_stays_for_the_deployment_that_will_ship_it() -> None:
    plan = plan_ageing(
        [deploy("listing", 10, ("x",))],
        [],
        [Commit("r", "x", 1 * DAY), Commit("r", "waiting", 2 * DAY)],
        [],
        cutoff=CUTOFF,
        production_environments=PROD,
    )
    assert plan.commits == {"x"} and plan.deployments == {"listing"}


def test_cutoff_days() -> None:
    assert cutoff_day("2025-10-31", 120) == "2025-07-03"
    assert cutoff_micros("1970-01-02") == DAY


def test_ageing_waits_for_a_step_of_days_past_retention() -> None:
    # Aged to 2025-07-03 when the latest day was 2025-10-31: due again once the latest day
    # is more than 30 days further (a day past retention + step), not on every new day.
    aged_to = cutoff_day("2025-10-31", 120)
    assert not ageing_due([aged_to, "2025-08-01"], "2025-11-01", 120, 30)
    assert not ageing_due([aged_to], "2025-11-30", 120, 30)
    assert ageing_due([aged_to], "2025-12-01", 120, 30)
    # A late event listed far back is due at once; an empty owner never.
    assert ageing_due(["2025-08-01", "2025-01-01"], "2025-11-01", 120, 30)
    assert not ageing_due([], "2025-11-01", 120, 30)
