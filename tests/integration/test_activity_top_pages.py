"""``GET /activity/top-pages`` on a running worker, over page-view partials written to its
database as the activity operator writes them: sums over partitions and minutes within
[from, to), ties by URL, ``k``, and 400s naming the parameter."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest

from devtools.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

T0 = datetime(2032, 5, 6, 7, 0, tzinfo=UTC)  # no other test writes minutes here
MINUTE = timedelta(minutes=1)
Query = Callable[..., list[asyncpg.Record]]


def top(worker: WorkerProcess, start: str, end: str, k: int | None = None) -> tuple[int, Any]:
    query = f"/activity/top-pages?from={quote(start)}&to={quote(end)}" + ("" if k is None else f"&k={k}")
    return worker.get(query)


def test_top_pages_sum_closed_minutes_over_partitions_within_from_to(
    worker: WorkerProcess, db: Query
) -> None:
    site = f"/it-{uuid.uuid4().hex[:6]}"
    rows = [
        (T0 - MINUTE, f"{site}/before", 0, 90),
        (T0, f"{site}/b", 0, 2),
        (T0, f"{site}/b", 5, 1),  # another partition's partial of the same minute
        (T0 + MINUTE, f"{site}/a", 1, 3),  # ties /b: URL order
        (T0 + MINUTE, f"{site}/c", 2, 1),
        (T0 + 2 * MINUTE, f"{site}/c", 2, 4),
        (T0 + 3 * MINUTE, f"{site}/at-end", 0, 80),
    ]
    db(
        "INSERT INTO activity_page_minutes (bucket, page_url, partition, views) "
        "SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::int[])",
        *map(list, zip(*rows, strict=True)),
    )
    status, body = top(worker, "2032-05-06T07:00:00Z", "2032-05-06T09:03:00+02:00")
    assert status == 200, body
    assert body == {
        "from": "2032-05-06T07:00:00+00:00",
        "to": "2032-05-06T07:03:00+00:00",
        "pages": [
            {"page_url": f"{site}/c", "views": 5},
            {"page_url": f"{site}/a", "views": 3},
            {"page_url": f"{site}/b", "views": 3},
        ],
    }
    assert top(worker, "2032-05-06T07:00:00Z", "2032-05-06T07:03:00Z", k=2)[1]["pages"] == [
        {"page_url": f"{site}/c", "views": 5},
        {"page_url": f"{site}/a", "views": 3},
    ]
    assert top(worker, "2032-05-06T07:00:00", "2032-05-06T07:01:00")[1]["pages"] == [
        {"page_url": f"{site}/b", "views": 3}
    ]
    assert top(worker, "2032-05-06T06:59:00Z", "2032-05-06T07:04:00Z", k=1)[1]["pages"] == [
        {"page_url": f"{site}/before", "views": 90}
    ]
    assert top(worker, "2032-05-07T00:00:00Z", "2032-05-08T00:00:00Z") == (
        200,
        {"from": "2032-05-07T00:00:00+00:00", "to": "2032-05-08T00:00:00+00:00", "pages": []},
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("to=2032-05-06T07:00:00Z", "from is required"),
        ("from=2032-05-06T07:00:00Z", "to is required"),
        ("from=tuesday&to=2032-05-06T07:00:00Z", "from must be an ISO-8601 timestamp"),
        ("from=2032-05-06T07:00:30Z&to=2032-05-06T08:00:00Z", "from must be on a whole minute"),
        ("from=2032-05-06T07:00:00Z&to=2032-05-06T07:00:00Z", "to must be after from"),
        ("from=2032-05-06T07:00:00Z&to=2032-05-06T08:00:00Z&k=0", "k must be an integer from 1 to 1000"),
        ("from=2032-05-06T07:00:00Z&to=2032-05-06T08:00:00Z&k=many", "k must be an integer from 1 to 1000"),
    ],
)
def test_top_pages_bad_parameters_are_400_naming_them(
    worker: WorkerProcess, query: str, message: str
) -> None:
    status, body = worker.get(f"/activity/top-pages?{query}")
    assert status == 400
    assert body["error"].startswith(message)
