"""The live page in a real browser: Debian's chromium driven by Playwright, against a worker
fed with a generated history on the real stack.

The numbers on the page equal the JSON views for the same scope, window and end; a
deployment produced to the broker shows on the open page within 5 s without a reload; a
key whose band changes is marked; the page logs no console error, fetches nothing from
outside and has no serious or critical axe-core violation (axe-core vendored under
vendor/axe-core). Screenshots at 1280 and 375 px are saved under ``test-artifacts/page``
(``TEST_ARTIFACTS`` to put them elsewhere).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from app.views.page_render import key_cells
from devtools.kafka_io import produce
from devtools.localstack import LocalStack
from devtools.org_history import generate_sei_history, iso
from devtools.worker_process import WorkerProcess
from tables.instants import from_micros
from tests.integration.conftest import (
    isolated_env,
    new_worker,
    private_broker,
    temporary_database,
    wait_for,
)
from tests.integration.org_checks import feed_history

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).with_name("vendor") / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts")) / "page"
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
LIVE_WITHIN_S = 5.0
# The page's key -> (the /dora answer's object, its field shown)
DORA_FIELDS = {
    "deployment_frequency": ("deployment_frequency", "deploy_days_per_week"),
    "lead_time": ("lead_time", "p50_hours"),
    "change_failure_rate": ("change_failure_rate", "rate"),
    "time_to_restore": ("time_to_restore", "p50_hours"),
    "rework_rate": ("rework_rate", "rate"),
}


def chromium() -> str:
    path = shutil.which("chromium")
    assert path, "Debian's chromium is not installed: `make browser` (run by `make test`) installs it"
    return path


@pytest.fixture(scope="module")
def fed_worker(
    stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerProcess, Any, str]]:
    """A worker of its own (broker, group and database) that has stored a 45-day history of 6
    repositories in 2 teams with 2 Jira projects; with its broker's bootstrap address."""
    root = tmp_path_factory.mktemp("page")
    prefix = f"p{uuid.uuid4().hex[:5]}"
    history = generate_sei_history(repositories=6, teams=2, days=45, seed=31, end=END, prefix=prefix)
    with private_broker(stack, root) as own, temporary_database(own, "sei_page") as url:
        env = isolated_env(own, url, "sei-page", TEAM_BANDS_INTERVAL_S="5")
        worker = new_worker(env, root, "page").start()
        try:
            worker.wait_answering()
            feed_history(worker, own.broker.bootstrap, history)
            yield worker, history, own.broker.bootstrap
        finally:
            worker.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class Watch:
    """What a page did that it should not: console errors, page errors, outside requests."""

    def __init__(self, page: Page, origin: str) -> None:
        self.problems: list[str] = []
        self.origin = origin
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("request", self._request)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _request(self, request: Request) -> None:
        url = urlsplit(request.url)
        if url.scheme not in ("data", "about") and f"{url.scheme}://{url.netloc}" != self.origin:
            self.problems.append(f"fetched from outside: {request.url}")


def shown_numbers(page: Page) -> list[dict[str, Any]]:
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('#live .num[data-scope][data-key]')].map(e => ({
                scope: e.dataset.scope, window: e.dataset.window, key: e.dataset.key,
                value: e.dataset.value, text: e.textContent.trim()}))"""
        )
    )


def json_path(scope: str, family: str) -> str:
    if scope == "organization":
        return f"/organization/{family}"
    kind, _, name = scope.partition(":")
    return f"/{family}/teams/{quote(name)}" if kind == "team" else f"/{family}/{quote(name)}"


def number_mismatches(worker: WorkerProcess, page: Page, least: int = 50) -> list[str]:
    """Each number on the page against the JSON view of its scope, window and the page's end."""
    end = from_micros(int(page.get_attribute("#live", "data-end") or 0)).isoformat()
    answers: dict[str, Any] = {}

    def answer(path: str) -> Any:
        if path not in answers:
            status, body = worker.get(path)
            answers[path] = body if status == 200 else {"error": f"HTTP {status}: {body}"}
        return answers[path]

    found: list[str] = []
    shown = shown_numbers(page)
    if len(shown) < least:  # a page that lost its numbers would agree with anything
        found.append(f"only {len(shown)} numbers on the page")
    for item in shown:
        stage, _, quantile = item["key"].partition(".")
        family = "cycle-time" if quantile else "dora"
        body = answer(f"{json_path(item['scope'], family)}?window={item['window']}d&end={quote(end)}")
        if "error" in body:
            found.append(f"{item}: {body['error']}")
            continue
        if quantile:
            expected, texts = body[stage][quantile], None
        else:
            group, field = DORA_FIELDS[item["key"]]
            expected = body[group][field]
            cell = key_cells(body)[item["key"]]
            texts = {cell.text, cell.short}
        value = None if item["value"] == "null" else float(item["value"])
        if value != expected or (texts is not None and item["text"] not in texts):
            found.append(f"{item} != {expected!r} {texts}")
    return found


def sprint_mismatches(worker: WorkerProcess, page: Page, projects: list[str]) -> list[str]:
    shown = page.evaluate(
        """() => [...document.querySelectorAll('#live [data-project]')].map(e => [
            e.dataset.project, e.dataset.sprint, e.dataset.value])"""
    )
    found = []
    for project in projects:
        _, body = worker.get(f"/sprints/{project}")
        expected = {s["name"]: s["velocity"] for s in body["sprints"]}
        for name, value in ((s, v) for p, s, v in shown if p == project):
            got = None if value == "null" else float(value)
            if name not in expected or expected[name] != got:
                found.append(f"{project} {name}: page {got}, /sprints {expected.get(name, 'missing')}")
    if not any(p in projects for p, _, _ in shown):
        found.append("no sprint velocity on the page")
    return found


def settled_page(worker: WorkerProcess, page: Page, projects: list[str], timeout_s: float) -> None:
    """Reload until the page agrees with the JSON views (pull-request rows reach the
    database within the projection's refresh interval)."""
    last: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page.reload()
        last = number_mismatches(worker, page) + sprint_mismatches(worker, page, projects)
        if not last:
            return
        time.sleep(1.0)
    raise AssertionError(f"the page disagrees with the JSON views: {len(last)} mismatches, first {last[:6]}")


def serious_violations(page: Page) -> list[str]:
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations'], "
        "runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def new_deployment(bootstrap: str, repository: str) -> None:
    finished = datetime.now(UTC) - timedelta(seconds=30)
    event = {
        "event_type": "deployment_finished",
        "timestamp": iso(finished),
        "source": "page-test",
        "repository_id": repository,
        "data": {
            "id": f"page-{uuid.uuid4().hex[:8]}",
            "environment": "production",
            "status": "success",
            "started_at": iso(finished - timedelta(minutes=5)),
            "finished_at": iso(finished),
        },
    }
    # Playwright's sync API runs an event loop in this thread: produce from another one.
    messages = [(repository.encode(), orjson.dumps(event))]
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, produce([bootstrap], "cicd.deployments", messages)).result()


def test_the_page_shows_the_json_views_live_and_accessibly(
    fed_worker: tuple[WorkerProcess, Any, str], browser: Browser
) -> None:
    worker, history, bootstrap = fed_worker
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page, worker.url)
    page.goto(f"{worker.url}/")

    settled_page(worker, page, history.projects, 60)
    page.screenshot(path=ARTIFACTS / "organization-1280.png", full_page=True)

    # A deployment produced to the broker reaches the open page without a reload.
    page.evaluate("window.__notReloaded = true")
    before = page.text_content("#detail-deployment_frequency")
    started = time.monotonic()
    new_deployment(bootstrap, history.repositories[0])
    page.wait_for_function(
        "before => document.getElementById('detail-deployment_frequency').textContent !== before",
        arg=before,
        timeout=LIVE_WITHIN_S * 1000,
    )
    took = time.monotonic() - started
    assert page.evaluate("window.__notReloaded === true"), "the page reloaded"
    after = page.text_content("#detail-deployment_frequency")
    assert int(str(after).split()[0]) == int(str(before).split()[0]) + 1, (before, after)
    print(f"page changed {took:.2f} s after the deployment was produced")

    # A band that changes is marked: the next live part the worker sends, with one band changed.
    target = page.get_attribute("#live [data-band-id]", "data-band-id")
    old = page.get_attribute(f'#live [data-band-id="{target}"]', "data-band")
    new = "low" if old != "low" else "elite"

    def changed_band(route: Any) -> None:
        response = route.fetch(
            headers={k: v for k, v in route.request.headers.items() if k != "if-none-match"}
        )
        body = response.text().replace(
            f'data-band-id="{target}" data-band="{old}">{old}<',
            f'data-band-id="{target}" data-band="{new}">{new}<',
        )
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        route.fulfill(response=response, body=body, headers={**headers, "etag": '"changed"'})

    page.route("**/?part=live*", changed_band)
    page.wait_for_selector(f'#live [data-band-id="{target}"].band-changed', timeout=LIVE_WITHIN_S * 1000)
    assert new in (page.text_content("#band-news") or "")
    page.unroute("**/?part=live*")

    assert not serious_violations(page), serious_violations(page)

    # The team and repository pages, and the phone width (in the dark scheme as well).
    team = history.teams[history.repositories[0]]
    for path, name in (
        (f"/teams/{team}", "team"),
        (f"/repositories/{history.repositories[0]}", "repository"),
    ):
        page.goto(f"{worker.url}{path}?window=7d")
        assert not number_mismatches(worker, page, 20), number_mismatches(worker, page, 20)
        assert not serious_violations(page), (path, serious_violations(page))
        page.screenshot(path=ARTIFACTS / f"{name}-1280.png", full_page=True)
    for scheme in ("light", "dark"):
        phone = browser.new_context(
            viewport={"width": 375, "height": 812}, color_scheme=scheme, is_mobile=True
        )
        small = phone.new_page()
        phone_watch = Watch(small, worker.url)
        small.goto(f"{worker.url}/")
        assert small.evaluate("document.documentElement.scrollWidth") <= 375, (
            "the page scrolls sideways at 375 px"
        )
        assert not serious_violations(small), (scheme, serious_violations(small))
        small.screenshot(path=ARTIFACTS / f"organization-375-{scheme}.png", full_page=True)
        assert not phone_watch.problems, phone_watch.problems
        phone.close()

    # Keyboard: the first tab stop is the skip link, and the window links are reachable.
    page.goto(f"{worker.url}/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert "window=" in (page.evaluate("document.activeElement.getAttribute('href')") or "")
    assert not watch.problems, watch.problems
    context.close()


def test_each_team_band_is_exported_by_the_leader(fed_worker: tuple[WorkerProcess, Any, str]) -> None:
    """sei_dora_team_band (the DoraTeamBandDropped alert's metric) says what /dora/teams says
    for 30 days; the only worker of its group is the group's leader, so it exports them."""
    worker, history, _ = fed_worker
    teams = sorted(set(history.teams.values()))
    values = {"low": 1.0, "medium": 2.0, "high": 3.0, "elite": 4.0}
    metrics = ("deployment_frequency", "lead_time", "change_failure_rate", "time_to_restore")

    def expected() -> dict[tuple[str, str], float]:
        wanted = {}
        for team in teams:
            status, body = worker.get(f"/dora/teams/{quote(team)}?window=30d")
            assert status == 200, body
            for metric in metrics:
                band = body[metric].get("band")
                if band is not None:
                    wanted[(team, metric)] = values[band]
        return wanted

    def exported() -> dict[tuple[str, str], float]:
        found = {}
        for line in worker.get_text("/metrics").splitlines():
            if line.startswith("sei_dora_team_band{"):
                labels, _, value = line.rpartition(" ")
                parts = dict(p.split("=", 1) for p in labels[len("sei_dora_team_band{") : -1].split(","))
                found[(parts["team"].strip('"'), parts["metric"].strip('"'))] = float(value)
        return found

    want = expected()
    assert {team for team, _ in want} == set(teams), want  # the history gives every team bands
    wait_for(lambda: exported() == expected(), 90, lambda: f"team bands {exported()} to be {expected()}")
