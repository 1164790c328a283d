"""tables.retention: what a repository's state may forget at a cutoff, open items kept."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from tables.commit_state import Commit
from tables.cycle_time import timelines
from tables.deployment_state import Deployment, lead_times, ship_history
from tables.incident_state import Incident
from tables.pull_request_state import PullRequest, PullRequestState, record_aged_commits
from tables.retention import KeptPullRequest, ageing_due, cutoff_day, cutoff_micros, plan_ageing

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
            Commit("r", "pr7", 3 * DAY, pull_request_number=7),  # of an open pull request: goes too
        ],
        [
            PullRequest("r", 5, created_at=2 * DAY, closed_at=3 * DAY),  # closed unmerged, old: goes
            PullRequest("r", 7, created_at=2 * DAY),  # open: stays, keeping what its commit gave it
        ],
        cutoff=CUTOFF,
        production_environments=PROD,
    )
    assert plan.incidents == {"resolved-old"}
    assert plan.pull_requests == {5}
    assert plan.commits == {"a", "b", "pr7"}
    assert plan.deployments == {"listing", "old"}
    # "old" shipped pr7's commit (implicitly, at day 10): the open pull request records its
    # first commit time and that ship time before the commit and "old" go.
    assert plan.kept == (KeptPullRequest(7, 3 * DAY, 10 * DAY),)


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


def _aged(
    deployments: list[Deployment], commits: list[Commit], pull_requests: list[PullRequest], cutoff: int
) -> tuple[list[Deployment], list[Commit], list[PullRequest]]:
    """The state left once the plan at ``cutoff`` is carried out, as agents.retention does."""
    plan = plan_ageing(deployments, [], commits, pull_requests, cutoff=cutoff, production_environments=PROD)
    kept = {k.number: k for k in plan.kept}
    left_prs = []
    for pr in pull_requests:
        if pr.number in plan.pull_requests:
            continue
        if pr.number in kept:
            state = record_aged_commits(
                PullRequestState(
                    "r",
                    pr.number,
                    aged_first_commit_at=pr.aged_first_commit_at,
                    aged_deployed_at=pr.aged_deployed_at,
                ),
                kept[pr.number].first_commit_at,
                kept[pr.number].deployed_at,
            )
            pr = replace(
                pr, aged_first_commit_at=state.aged_first_commit_at, aged_deployed_at=state.aged_deployed_at
            )
        left_prs.append(pr)
    return (
        [d for d in deployments if d.id not in plan.deployments],
        [c for c in commits if c.sha not in plan.commits],
        left_prs,
    )


_days = st.integers(min_value=0, max_value=40)


@st.composite
def _histories(draw: st.DrawFn) -> tuple[list[Deployment], list[Commit], list[PullRequest]]:
    numbers = draw(st.lists(st.integers(1, 6), max_size=6, unique=True))
    commits = [
        Commit(
            "r", f"c{n}", draw(_days) * DAY + n, pull_request_number=draw(st.sampled_from([None, *numbers]))
        )
        for n in range(draw(st.integers(0, 12)))
    ]
    shas = [c.sha for c in commits] + ["unknown"]
    deployments = []
    for n in range(draw(st.integers(0, 6))):
        listed = draw(st.none() | st.lists(st.sampled_from(shas), max_size=3).map(tuple))
        deployments.append(deploy(f"d{n}", draw(_days) + n / 100, listed))
    pull_requests = []
    for number in numbers:
        created = draw(_days)
        merged = draw(st.none() | st.integers(created, 40))
        pull_requests.append(
            PullRequest(
                "r",
                number,
                created_at=created * DAY,
                merged_at=None if merged is None else merged * DAY,
                merge_commit_sha=None if merged is None else draw(st.none() | st.sampled_from(shas)),
                closed_at=None
                if merged is not None or draw(st.booleans())
                else draw(st.integers(created, 40)) * DAY,
                commit_shas=tuple(draw(st.lists(st.sampled_from(shas), max_size=3, unique=True))),
            )
        )
    return deployments, commits, pull_requests


@given(_histories(), st.lists(st.integers(1, 40), min_size=1, max_size=3))
@settings(max_examples=300, deadline=None)
def test_ageing_keeps_every_kept_pull_requests_timeline_and_every_later_shipment(
    history: tuple[list[Deployment], list[Commit], list[PullRequest]], cutoffs: list[int]
) -> None:
    # Aged once or several times at rising cutoffs, open and merged pull requests alike:
    # every pull request kept has the timeline the whole history gives it, and every
    # deployment after the last cutoff has the lead times the whole history gives it.
    deployments, commits, pull_requests = history
    whole = timelines(pull_requests, commits, deployments, PROD)
    shipped = ship_history(deployments, commits, PROD)
    whole_lead_times = {s.deployment.id: lead_times(s, shipped.commits) for s in shipped.shipments}
    left = (deployments, commits, pull_requests)
    cutoffs = sorted(cutoffs)
    for cutoff in cutoffs:
        left = _aged(*left, cutoff * DAY)
    deployments_left, commits_left, pull_requests_left = left
    after = timelines(pull_requests_left, commits_left, deployments_left, PROD)
    for key, timeline in after.items():
        expected = whole[key]
        assert (timeline.first_commit_at, timeline.deployed_at) == (
            expected.first_commit_at,
            expected.deployed_at,
        )
    # Lead times, not the shas: a deployment after the cutoff that lists an aged commit
    # lists a sha the tables no longer know, which counts for nothing.
    left_shipped = ship_history(deployments_left, commits_left, PROD)
    for shipment in left_shipped.shipments:
        if shipment.deployment.finished_at >= cutoffs[-1] * DAY:
            assert lead_times(shipment, left_shipped.commits) == whole_lead_times[shipment.deployment.id]


def test_a_year_open_pull_request_holds_no_old_commits_or_deployments() -> None:
    # Open for 300 days, a commit a day on it, each shipped by the next day's deployment
    # (implicit shipping): aged at day 200, only what is after the cutoff is left, and its
    # timeline is the whole history's.
    commits = [Commit("r", f"c{n}", n * DAY, pull_request_number=1) for n in range(300)]
    deployments = [deploy(f"d{n}", n + 0.5) for n in range(300)]
    pull_requests = [PullRequest("r", 1, created_at=0)]
    deployments_left, commits_left, pull_requests_left = _aged(deployments, commits, pull_requests, 200 * DAY)
    assert len(commits_left) == 100 and len(deployments_left) == 100
    assert timelines(pull_requests_left, commits_left, deployments_left, PROD)[("r", 1)] == replace(
        timelines(pull_requests, commits, deployments, PROD)[("r", 1)], pull_request=pull_requests_left[0]
    )
