"""The page's pure parts: weekly trends of metrics_daily buckets, the overview's split by
scope (each scope's numbers are the JSON views' own functions over its entities), and the
rendering, including the empty organization's state."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from app.views.page_render import EMPTY_TOPICS, Health, PageContext, TopicHealth, render_page, sparkline
from tables.commit_state import Commit
from tables.deployment_state import Deployment
from tables.incident_state import Incident
from tables.instants import to_micros
from tables.overview import Overview, ScopeAnswers, overview_of, waiting_for_review
from tables.pull_request_state import PullRequest, Review
from tables.snapshots import Entities, cycle_time_answer, dora_answer
from tables.trends import week_starts, weekly_trends

HOUR = 3_600_000_000
END = to_micros(datetime(2026, 12, 1, tzinfo=UTC))
PRODUCTION = ("production",)


def test_weekly_trends_pool_sums_per_week_and_leave_gaps() -> None:
    last = date(2026, 12, 1)
    first_week, last_week = week_starts(last)[0], week_starts(last)[-1]
    assert (last - first_week).days == 83 and (last - last_week).days == 6
    days = [
        (last, "deployments", 2.0),
        (last - timedelta(days=1), "deployments", 2.0),
        (last, "failed_deployments", 1.0),
        (last, "lead_time_count", 2.0),
        (last, "lead_time_seconds_sum", 4 * 3600.0),
        (first_week, "deployments", 1.0),
        (first_week - timedelta(days=1), "deployments", 50.0),  # before the 12 weeks
    ]
    trends = weekly_trends(days, last_day=last)
    assert trends["deployment_frequency"][-1] == 4.0 and trends["deployment_frequency"][0] == 1.0
    assert trends["change_failure_rate"][-1] == 0.25
    assert trends["lead_time"][-1] == 2.0  # hours, mean of the week's samples
    assert trends["lead_time"][0] is None and trends["time_to_restore"] == [None] * 12


def test_sparkline_draws_gaps_and_is_labelled() -> None:
    svg = sparkline([1.0, None, 3.0, 2.0], "Lead time, last 12 weeks")
    assert svg.count("M") == 2 and 'aria-label="Lead time, last 12 weeks"' in svg and "<title>" in svg
    assert sparkline([None, None], "nothing") == ""


def deployment(repository: str, ident: str, hours_before_end: int) -> Deployment:
    return Deployment(repository, ident, "production", "success", END - hours_before_end * HOUR)


def test_each_scope_is_the_views_answer_over_its_entities() -> None:
    teams = {"r1": "a", "r2": "a", "r3": "b"}
    pool = Entities(
        [deployment("r1", "d1", 5), deployment("r2", "d2", 30), deployment("r3", "d3", 24 * 20)],
        [Incident("r3", "i1", END - 10 * HOUR, END - 8 * HOUR)],
        [],
        [],
    )
    overview = overview_of(teams, pool, end=END, production_environments=PRODUCTION, windows=(7, 30))
    assert overview.teams == {"a": ["r1", "r2"], "b": ["r3"]}
    assert overview.organization is not None
    assert overview.organization.dora[30] == dora_answer(
        pool, end=END, window_days=30, production_environments=PRODUCTION
    )
    team_a = Entities(pool.deployments[:2], [], [], [])
    assert overview.by_team["a"].dora[7] == dora_answer(
        team_a, end=END, window_days=7, production_environments=PRODUCTION
    )
    assert overview.by_repository["r3"].dora[7]["deployment_frequency"]["deployments"] is None
    assert overview.by_repository["r3"].dora[30]["time_to_restore"]["count"] == 1


def generated_pool(seed: int) -> Entities:
    """Four repositories' deployments (implicit and listing their shas, some failed or
    staging), commits (some of pull requests), pull requests and incidents over 120 days."""
    rng = random.Random(seed)
    deployments, incidents, commits, prs = [], [], [], []
    for repository in ("r1", "r2", "r3", "r4"):
        shas = []
        for n in range(rng.randint(0, 300)):
            number = rng.randint(1, 40) if rng.random() < 0.5 else None
            sha = f"{repository}-c{n}"
            shas.append(sha)
            commits.append(Commit(repository, sha, END - rng.randint(0, 120 * 24) * HOUR, number))
        for n in range(rng.randint(0, 60)):
            status, environment = (
                rng.choice(["success"] * 5 + ["failure"]),
                rng.choice(["production"] * 4 + ["staging"]),
            )
            listed = tuple(rng.sample(shas, min(len(shas), 3))) if shas and rng.random() < 0.2 else None
            finished = END - rng.randint(0, 110 * 24) * HOUR
            deployments.append(
                Deployment(repository, f"d{n}", environment, status, finished, commit_shas=listed)
            )
        for number in range(1, 41):
            created = END - rng.randint(2, 100 * 24) * HOUR
            merged = created + rng.randint(1, 200) * HOUR if rng.random() < 0.8 else None
            review = Review(created + HOUR, "rev", "approved")
            prs.append(
                PullRequest(
                    repository,
                    number,
                    "dev",
                    f"change {number}",
                    "main",
                    created,
                    None,
                    merged,
                    reviews=(review,) if rng.random() < 0.7 else (),
                )
            )
        for n in range(rng.randint(0, 8)):
            opened = END - rng.randint(0, 100 * 24) * HOUR
            resolved = opened + rng.randint(1, 48) * HOUR if rng.random() < 0.8 else None
            incidents.append(Incident(repository, f"i{n}", opened, resolved, rng.choice([None, "d1", "d2"])))
    return Entities(deployments, incidents, commits, prs)


def test_the_overview_ships_once_and_answers_as_each_scope_would_alone() -> None:
    """Each repository shipped once and put together per scope gives every scope and window
    exactly what the views' functions give over that scope's pooled entities."""
    teams = {"r1": "a", "r2": "a", "r3": "b", "r4": "a"}
    samples = 0
    for seed in range(8):
        pool = generated_pool(seed)
        overview = overview_of(teams, pool, end=END, production_environments=PRODUCTION)
        scopes: list[tuple[ScopeAnswers | None, tuple[str, ...]]] = [
            (overview.organization, ("r1", "r2", "r3", "r4"))
        ]
        scopes += [(overview.by_team["a"], ("r1", "r2", "r4")), (overview.by_team["b"], ("r3",))]
        scopes += [(overview.by_repository[r], (r,)) for r in teams]
        for answers, members in scopes:
            assert answers is not None
            part = Entities(
                [d for d in pool.deployments if d.repository_id in members],
                [i for i in pool.incidents if i.repository_id in members],
                [c for c in pool.commits if c.repository_id in members],
                [p for p in pool.pull_requests if p.repository_id in members],
            )
            for days in (7, 30, 90):
                expected = dora_answer(part, end=END, window_days=days, production_environments=PRODUCTION)
                assert answers.dora[days] == expected, (seed, members, days)
                cycle = cycle_time_answer(part, end=END, window_days=days, production_environments=PRODUCTION)
                cycle.pop("open_prs")
                assert answers.cycle_time[days] == cycle, (seed, members, days)
        assert overview.organization is not None
        samples += overview.organization.dora[90]["lead_time"]["count"] or 0
    assert samples > 1_000  # the histories ship commits: the comparison is not of empty answers


def test_waiting_for_review_lists_the_longest_waiting_first() -> None:
    prs = [
        {"repository_id": "r", "number": 1, "state": "waiting_for_review", "waiting_for_review_hours": 3.0},
        {"repository_id": "r", "number": 2, "state": "in_review", "waiting_for_review_hours": None},
        {"repository_id": "r", "number": 3, "state": "waiting_for_review", "waiting_for_review_hours": 9.0},
    ]
    assert [pr["number"] for pr in waiting_for_review(prs)] == [3, 1]


def test_an_empty_organization_names_the_topics_to_send() -> None:
    health = Health([TopicHealth("git.commits", None, None, 0)], None, 0)
    html = render_page(PageContext("organization", "", 30, Overview(END, {}, None), {}, health))
    assert "No engineering events yet" in html
    for topic, _ in EMPTY_TOPICS:
        assert f"<code>{topic}</code>" in html
    assert "Pipeline health" in html and "Deployment frequency" not in html


def test_a_page_shows_each_key_with_band_word_and_raw_value() -> None:
    teams = {"r1": "a"}
    pool = Entities([deployment("r1", f"d{i}", 24 * i + 1) for i in range(10)], [], [], [])
    overview = overview_of(teams, pool, end=END, production_environments=PRODUCTION)
    health = Health([], 12.0, 3)
    html = render_page(PageContext("team", "a", 7, overview, {}, health))
    frequency = overview.by_team["a"].dora[7]["deployment_frequency"]
    assert f'data-key="deployment_frequency" data-value="{frequency["deploy_days_per_week"]}"' in html
    assert f'data-band="{frequency["band"]}">{frequency["band"]}</span>' in html
    assert 'href="/repositories/r1?window=7d"' in html
    assert "open</span> for 12 s" in html  # the database circuit


def test_durations_read_in_minutes_hours_or_days_with_their_sign() -> None:
    from app.views.page_render import format_hours

    assert [format_hours(h) for h in (None, 0.5, 20.25, 60.0, -57.1)] == [
        "–",
        "30 min",
        "20.2 h",
        "2.5 d",
        "−2.4 d",
    ]


def test_the_activity_and_log_families_join_the_organization_page_when_they_have_data() -> None:
    health = Health([], None, 0)
    overview = Overview(END, {}, None)
    pages = [("/checkout", 40), ("/home", 10)]
    incidents = [
        {
            "service": "payments",
            "first_at": "2025-01-01T10:00:00+00:00",
            "last_at": "2025-01-01T10:04:00+00:00",
            "anomalies": 7,
            "peak_score": 0.91,
            "kinds": ["log"],
            "samples": ["timeout talking to <str>"],
        }
    ]
    html = render_page(PageContext("organization", "", 30, overview, {}, health, {}, "", pages, incidents))
    assert "Top pages, last hour" in html and 'data-page="/checkout" data-value="40"' in html
    assert "width: 25.0%" in html  # /home's bar against the most viewed page
    assert "Log anomalies, last 24 hours" in html and 'data-service="payments" data-value="7"' in html
    assert "timeout talking to &lt;str&gt;" in html  # escaped
    bare = render_page(PageContext("organization", "", 30, overview, {}, health))
    assert "Top pages" not in bare and "Log anomalies" not in bare  # no data: no section
